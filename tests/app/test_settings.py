"""Configuration: read from the environment and `.env`; a bad value stops the process with
one line per bad variable, naming it, and no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.commands import SETTING_NAMES, run_webapp
from webapp.settings import PROJECT_ROOT, Settings, load_settings

# (variable, bad value, words the one line must contain besides the name)
BAD_VALUES = [
    ("PORT", "abc", "whole number from 1 to 65535"),
    ("PORT", "0", "from 1 to 65535"),
    ("PORT", "65536", "from 1 to 65535"),
    ("DATABASE_URL", "postgresql://db/tasks", "mysql+asyncmy://"),
    ("DATABASE_URL", "tasks.sqlite3", "sqlite+aiosqlite://"),
    ("DATABASE_URL", "mysql://root@host:port/tasks", "not a valid URL"),
    ("REDIS_URL", "http://cache:6379", "redis://"),
    ("BROKER_URL", "kafka://queue:9092", "amqp://"),
    ("DB_RESET_ON_START", "maybe", "true or false"),
    ("LOG_LEVEL", "loud", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
    ("LOG_FORMAT", "xml", "'text' or 'json'"),
    ("WEB_CONCURRENCY", "0", "from 1 to 64"),
    ("TRUSTED_PROXIES", "10.0.0.5,nginx", "IP addresses or networks"),
    ("CACHE_TTL_SECONDS", "-1", "from 0 to 86400"),
    ("PYTHON_VERSION", "2.7", "'3.13'"),
]


@pytest.fixture
def no_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting in the environment and no .env: an empty folder as working directory."""
    for name in os.environ:
        if name.upper() in SETTING_NAMES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ------------------------------------------------------------------------------ in process


@pytest.mark.parametrize(
    ("name", "value", "words"), BAD_VALUES, ids=[f"{n}={v}" for n, v, _ in BAD_VALUES]
)
def test_a_bad_value_stops_with_one_line_naming_the_variable(
    no_configuration: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    words: str,
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    assert stopped.value.code != 0
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"configuration error: {name} ")
    assert words in line


def test_a_password_in_a_bad_url_is_not_printed(
    no_configuration: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://tasks:hunter2@db/tasks")
    monkeypatch.setenv("BROKER_URL", "kafka://[broken")
    with pytest.raises(SystemExit):
        load_settings()
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert "postgresql://tasks:***@db/tasks" in err
    assert len(err.splitlines()) == 2


def test_defaults_need_no_configuration(no_configuration: Path) -> None:
    settings = Settings()
    assert settings.database_url == f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'tasks.sqlite3'}"
    assert (settings.host, settings.port, settings.web_concurrency) == ("127.0.0.1", 8000, 1)
    assert (settings.redis_url, settings.broker_url) == ("", "")
    assert settings.db_reset_on_start is False
    assert settings.log_level == "INFO"


def test_dotenv_is_read_and_the_environment_wins(
    no_configuration: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (no_configuration / ".env").write_text("PORT=9000\nHOST=0.0.0.0\nLOG_LEVEL=debug\n")
    monkeypatch.setenv("HOST", "127.0.0.2")
    settings = Settings()
    assert (settings.port, settings.host, settings.log_level) == (9000, "127.0.0.2", "DEBUG")


def test_empty_values_in_dotenv_mean_the_defaults(no_configuration: Path) -> None:
    names = sorted(SETTING_NAMES)
    (no_configuration / ".env").write_text("".join(f"{name}=\n" for name in names))
    assert Settings() == Settings(_env_file=None)


def test_empty_environment_variables_mean_the_defaults(
    no_configuration: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SETTING_NAMES:
        monkeypatch.setenv(name, "")
    assert Settings() == Settings(_env_file=None)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///tmp/t.sqlite3", "sqlite+aiosqlite:///tmp/t.sqlite3"),
        ("mysql://root@db:3306/tasks", "mysql+asyncmy://root@db:3306/tasks"),
        ("mariadb://root@db/tasks", "mysql+asyncmy://root@db/tasks"),
        ("MySQL+AsyncMy://root@db/tasks", "mysql+asyncmy://root@db/tasks"),
    ],
)
def test_short_database_schemes_get_the_async_driver(
    no_configuration: Path, monkeypatch: pytest.MonkeyPatch, given: str, used: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert Settings().database_url == used


@pytest.mark.parametrize(
    ("value", "meaning"), [("true", True), ("1", True), ("yes", True), ("off", False)]
)
def test_db_reset_on_start_reads_the_usual_spellings(
    no_configuration: Path, monkeypatch: pytest.MonkeyPatch, value: str, meaning: bool
) -> None:
    monkeypatch.setenv("DB_RESET_ON_START", value)
    assert Settings().db_reset_on_start is meaning


# ------------------------------------------------------------------------------ the real process


def test_check_config_reports_every_bad_variable_on_its_own_line(tmp_path: Path) -> None:
    bad = {name: value for name, value, _ in BAD_VALUES}  # the last value of each name
    result = run_webapp(tmp_path, "check-config", **bad)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert sorted(line.split()[2] for line in lines) == sorted(bad), result.stderr
    assert all(line.startswith("configuration error: ") for line in lines)
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["check-config", "serve", "migrate"])
def test_a_bad_value_stops_every_command_before_it_starts(tmp_path: Path, command: str) -> None:
    result = run_webapp(tmp_path, command, PORT="abc", DB_RESET_ON_START="maybe")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert sorted(result.stderr.splitlines()) == [
        "configuration error: DB_RESET_ON_START must be true or false "
        "(1/0, yes/no and on/off work too); got 'maybe'",
        "configuration error: PORT must be a whole number from 1 to 65535; got 'abc'",
    ]


def test_check_config_accepts_a_dotenv_with_empty_values(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=\nDATABASE_URL=\nLOG_LEVEL=\nDB_RESET_ON_START=\n")
    result = run_webapp(tmp_path, "check-config")
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "configuration ok", "")


def test_check_config_reads_the_bad_value_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# copied from .env.template\nPORT=eighty\n")
    result = run_webapp(tmp_path, "check-config")
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "configuration error: PORT must be a whole number from 1 to 65535; got 'eighty'"
    ]
