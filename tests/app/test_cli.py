"""`python -m webapp`: migrate, reset on start, and serve, each run as the real process."""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.commands import environment, run_webapp
from tests.databases import make_settings
from webapp.cli import drain_seconds, granian_command
from webapp.settings import PROJECT_ROOT


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def head_revision() -> str:
    versions = sorted((PROJECT_ROOT / "migrations" / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return versions[-1].name[:4]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_migrate_builds_a_fresh_database_at_head(tmp_path: Path) -> None:
    path = tmp_path / "new" / "tasks.sqlite3"
    result = run_webapp(tmp_path, "migrate", DATABASE_URL=f"sqlite:///{path}")
    assert result.returncode == 0, result.stderr
    assert {"task", "alembic_version"} <= tables(path)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]


def test_migrate_keeps_data_and_reset_on_start_drops_it(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    url = f"sqlite:///{path}"
    assert run_webapp(tmp_path, "migrate", DATABASE_URL=url).returncode == 0
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE stray (id INTEGER)")
        connection.execute(
            "INSERT INTO task (id, title, notes, priority, version, created_at, updated_at) "
            "VALUES (x'0189', 'kept?', '', 0, 1, '2026-01-01', '2026-01-01')"
        )

    again = run_webapp(tmp_path, "migrate", DATABASE_URL=url)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT title FROM task").fetchall() == [("kept?",)]

    reset = run_webapp(tmp_path, "migrate", DATABASE_URL=url, DB_RESET_ON_START="true")
    assert reset.returncode == 0, reset.stderr
    assert "stray" not in tables(path)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM task").fetchall() == [(0,)]
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = run_webapp(tmp_path, "launch")
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_granian_serves_the_app_factory_with_the_settings() -> None:
    command = granian_command("0.0.0.0", 8123, 3, "WARNING", 10)
    assert command[:3] == [sys.executable, "-m", "granian"]
    assert command[-1] == "webapp.app:create_app"
    assert "--factory" in command

    def value(flag: str) -> str:
        return command[command.index(flag) + 1]

    assert (value("--host"), value("--port"), value("--workers")) == ("0.0.0.0", "8123", "3")
    assert (value("--interface"), value("--log-level")) == ("asgi", "warning")
    assert value("--workers-kill-timeout") == "10"


def test_a_stopping_server_outlasts_every_request_deadline_but_not_a_stream() -> None:
    # 5 s a statement + 3 s for a connection: an ordinary request has ended by 8 s.
    assert drain_seconds(make_settings("sqlite://")) == 10
    slow = make_settings("sqlite://", db_statement_timeout_seconds=29.5)
    assert drain_seconds(slow) == 35
    assert drain_seconds(make_settings("sqlite://", db_statement_timeout_seconds=3600)) == 1800


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`python -m webapp serve` on a free port with a new SQLite file; stopped by PID."""
    port = free_port()
    path = tmp_path / "served.sqlite3"
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp", "serve"],
        cwd=tmp_path,
        env=environment(DATABASE_URL=f"sqlite:///{path}", PORT=str(port), SECRET_KEY="s" * 40),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            process.kill()
            output = process.communicate()[0]
            pytest.fail(f"serve did not answer /health:\n{output}")
        yield base, path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_serve_migrates_then_serves_the_api_and_docs(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    """The cluster's admin path: an admin and a token from the command line, then the API."""
    base, path = served
    assert "task" in tables(path)
    url = f"sqlite:///{path}"
    assert httpx.get(f"{base}/api/tasks", timeout=10).status_code == 401

    made = run_webapp(
        tmp_path,
        "create-user",
        "Ops@Example.com",
        "--admin",
        stdin="a long password\n",
        DATABASE_URL=url,
    )
    assert (made.returncode, made.stdout) == (0, "created ops@example.com (admin)\n"), made.stderr
    token = run_webapp(
        tmp_path, "create-token", "ops@example.com", "--name", "ci", DATABASE_URL=url
    )
    assert token.returncode == 0, token.stderr
    assert re.fullmatch(r"tsk_[A-Za-z0-9_-]{43}\n", token.stdout)  # the token, nothing else
    bearer = {"Authorization": f"Bearer {token.stdout.strip()}"}

    created = httpx.post(
        f"{base}/api/tasks", json={"title": "over the wire"}, headers=bearer, timeout=10
    )
    assert created.status_code == 201
    listed = httpx.get(f"{base}/api/tasks", headers=bearer, timeout=10).json()
    assert [task["title"] for task in listed["items"]] == ["over the wire"]
    me = httpx.get(f"{base}/api/me", headers=bearer, timeout=10).json()
    assert (me["email"], me["is_admin"]) == ("ops@example.com", True)
    docs = httpx.get(f"{base}/docs", timeout=10)
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text


def test_account_commands_refuse_bad_input_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tasks.sqlite3'}"
    assert run_webapp(tmp_path, "migrate", DATABASE_URL=url).returncode == 0
    cases = [
        (("create-user", "not-an-email"), "a long password\n", "create-user: email: is not"),
        (("create-user", "ada@example.com"), "short\n", "at least 8 characters"),
        (("create-user", "ada@example.com"), "password\n", "most common passwords"),
        (("create-token", "nobody@example.com"), "", "no account has the email"),
        (("reset-password", "nobody@example.com"), "a long password\n", "no account has"),
    ]
    for args, stdin, message in cases:
        result = run_webapp(tmp_path, *args, stdin=stdin, DATABASE_URL=url)
        assert result.returncode == 1, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
    with sqlite3.connect(tmp_path / "tasks.sqlite3") as connection:
        assert connection.execute("SELECT count(*) FROM account").fetchall() == [(0,)]

    assert (
        run_webapp(
            tmp_path, "create-user", "ada@example.com", stdin="first password\n", DATABASE_URL=url
        ).returncode
        == 0
    )
    again = run_webapp(
        tmp_path, "create-user", "ADA@example.com", stdin="other password\n", DATABASE_URL=url
    )
    assert (again.returncode, "exists already" in again.stderr) == (1, True)
    reset = run_webapp(
        tmp_path, "reset-password", "Ada@Example.com", stdin="second password\n", DATABASE_URL=url
    )
    assert reset.returncode == 0, reset.stderr
    with sqlite3.connect(tmp_path / "tasks.sqlite3") as connection:
        [(epoch, admin)] = connection.execute(
            "SELECT session_epoch, is_admin FROM account"
        ).fetchall()
    assert (epoch, admin) == (2, 1)  # the first account is the admin; its sessions ended


def test_a_second_server_on_a_port_in_use_refuses_to_start(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    """Granian binds with SO_REUSEPORT: without the check, the second server would share
    the port, and the kernel would split requests between two apps and two databases."""
    base, _ = served
    port = base.rsplit(":", 1)[1]
    other = tmp_path / "other"
    other.mkdir()
    result = run_webapp(
        other,
        "serve",
        DATABASE_URL=f"sqlite:///{other / 'other.sqlite3'}",
        PORT=port,
        SECRET_KEY="s" * 40,
    )
    assert result.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}: the port is in use" in result.stderr
    assert not (other / "other.sqlite3").exists()  # it stopped before touching anything
    assert httpx.get(f"{base}/health", timeout=5).status_code == 200
