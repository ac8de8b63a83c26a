"""One log line per request (method, path, status), and nothing a request carried in it."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.accounts import Person, client_as
from tests.databases import make_settings
from webapp.app import create_app
from webapp.logs import QueuedLineWriter, flush_logs
from webapp.tasks.service import TaskService

Client = AsyncTestClient[Litestar]
SECRET = "hunter2-do-not-log"


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """Logging does not depend on the database: SQLite only."""
    path = tmp_path / "tasks.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def requests_logged(entries: list[MutableMapping[str, Any]]) -> list[tuple[str, str, int]]:
    return [(e["method"], e["path"], e["status"]) for e in entries if e["event"] == "request"]


async def test_one_line_per_request_with_method_path_and_status(
    client: Client, person: Person
) -> None:
    with structlog.testing.capture_logs() as entries:
        created = await client.post(
            "/api/tasks",
            json={"title": "private", "notes": SECRET},
            headers={"Cookie": f"session={SECRET}", "X-Secret": SECRET},
        )
        task_id = created.json()["id"]
        await client.get("/api/tasks", params={"q": SECRET})
        await client.patch(f"/api/tasks/{task_id}", json={"title": ""})
        await client.get("/api/nowhere")

    assert requests_logged(entries) == [
        ("POST", "/api/tasks", 201),
        ("GET", "/api/tasks", 200),
        ("PATCH", f"/api/tasks/{task_id}", 400),
        ("GET", "/api/nowhere", 404),
    ]
    assert all(isinstance(e["duration_ms"], float) for e in entries if e["event"] == "request")
    assert SECRET not in repr(entries)
    assert person.token not in repr(entries)
    assert "private" not in repr(entries)


async def test_an_unexpected_error_is_logged_once_without_the_body(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the cause")

    monkeypatch.setattr(TaskService, "create", broken)
    with structlog.testing.capture_logs() as entries:
        response = await client.post("/api/tasks", json={"title": "t", "notes": SECRET})

    assert response.status_code == 500
    errors = [e for e in entries if e["log_level"] == "error"]
    assert [(e["event"], e["method"], e["path"]) for e in errors] == [
        ("unhandled error", "POST", "/api/tasks")
    ]
    assert requests_logged(entries) == [("POST", "/api/tasks", 500)]
    assert SECRET not in repr(entries)


@pytest.fixture
async def json_client(database_url: str, person: Person) -> AsyncIterator[Client]:
    settings = make_settings(database_url, log_format="json", secret_key=SECRET)
    async with client_as(create_app(settings), person) as client:
        yield client


async def test_json_format_writes_one_json_object_a_line(
    json_client: Client, capfd: pytest.CaptureFixture[str]
) -> None:
    flush_logs()
    capfd.readouterr()
    await json_client.post("/api/tasks", json={"title": "t", "notes": SECRET})
    await json_client.get("/health")
    flush_logs()

    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.strip()]
    access = [line for line in lines if line.get("event") == "request"]
    assert [(a["method"], a["path"], a["status"], a["level"]) for a in access] == [
        ("POST", "/api/tasks", 201, "info"),
        ("GET", "/health", 200, "info"),
    ]
    assert all("timestamp" in a for a in access)
    assert SECRET not in json.dumps(lines)


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_an_error_log_holds_a_plain_traceback_and_nothing_the_request_carried(
    database_url: str,
    person: Person,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    log_format: str,
) -> None:
    """What an unexpected error writes: its traceback once, without the frames' variables
    (which held the request's headers, and took seconds to render on the event loop)."""

    async def broken(self: TaskService, *args: object, **kwargs: object) -> None:
        secret_in_a_local = SECRET  # noqa: F841  (what a traceback with locals would show)
        raise RuntimeError("the cause")

    monkeypatch.setattr(TaskService, "list_tasks_json", broken)
    settings = make_settings(database_url, log_format=log_format, secret_key="k" * 40)
    async with client_as(create_app(settings), person) as client:
        page = await client.get("/")  # the CSRF cookie and token a browser would send
        token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        flush_logs()
        capfd.readouterr()
        response = await client.get(
            "/api/tasks",
            params={"q": f"search-{SECRET}"},
            headers={"X-CSRFToken": token, "X-Secret": SECRET},
        )
        flush_logs()
        output = capfd.readouterr().out

    assert response.status_code == 500
    assert output.count("Traceback (most recent call last)") == 1
    assert "RuntimeError: the cause" in output
    for leaked in (SECRET, token, person.token, "tasks_session", "Bearer"):
        assert leaked not in output, leaked
    # A plain traceback: a few lines a frame, not a rendering of every frame's variables.
    assert len(output.splitlines()) < 120


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_a_library_error_with_a_traceback_is_logged_in_the_apps_format(
    database_url: str, capfd: pytest.CaptureFixture[str], log_format: str
) -> None:
    """SQLAlchemy's pool logs through the standard `logging` module, with a traceback when
    a connection dies. Its line was lost ("--- Logging error ---": the default renderer
    could not serialise the traceback) and came as JSON whatever LOG_FORMAT said."""
    settings = make_settings(database_url, log_format=log_format, secret_key="k" * 40)
    async with AsyncTestClient(app=create_app(settings)):
        capfd.readouterr()
        try:
            raise ConnectionResetError("the database went away")
        except ConnectionResetError:
            logging.getLogger("sqlalchemy.pool.impl").error("Exception during reset", exc_info=True)
        output = ""
        for _ in range(50):  # the standard library's queue handler writes from a thread
            captured = capfd.readouterr()
            output += captured.out + captured.err
            if "the database went away" in output:
                break
            await asyncio.sleep(0.02)
    assert "--- Logging error ---" not in output
    assert "ConnectionResetError: the database went away" in output.replace("\\n", "\n")
    line = next(line for line in output.splitlines() if "Exception during reset" in line)
    assert line.startswith("{") is (log_format == "json")


class TextOnlyStream:
    """A stream that takes str alone, without a `buffer`: stdout in a Dramatiq worker
    process (dramatiq.compat.StreamablePipe)."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, text: str) -> int:
        assert isinstance(text, str)
        self.written.append(text)
        return len(text)

    def flush(self) -> None:
        return None


def test_json_lines_reach_a_stream_that_takes_text_only() -> None:
    stream = TextOnlyStream()
    writer = QueuedLineWriter(stream)  # type: ignore[arg-type]
    writer.msg(b'{"event":"job delivery ended"}')
    writer.msg("a text line")
    writer.flush()
    assert stream.written == ['{"event":"job delivery ended"}\n', "a text line\n"]
