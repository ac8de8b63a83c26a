"""One log line per request (method, path, status), and nothing a request carried in it."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.databases import make_settings
from webapp.app import create_app

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


async def test_one_line_per_request_with_method_path_and_status(client: Client) -> None:
    with structlog.testing.capture_logs() as entries:
        created = await client.post(
            "/api/tasks",
            json={"title": "private", "notes": SECRET},
            headers={"Authorization": f"Bearer {SECRET}", "Cookie": f"session={SECRET}"},
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
    assert "private" not in repr(entries)


async def test_an_unexpected_error_is_logged_once_without_the_body(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.tasks.service import TaskService

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
async def json_client(database_url: str) -> AsyncIterator[Client]:
    settings = make_settings(database_url, log_format="json", secret_key=SECRET)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def test_json_format_writes_one_json_object_a_line(
    json_client: Client, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    await json_client.post("/api/tasks", json={"title": "t", "notes": SECRET})
    await json_client.get("/health")

    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.strip()]
    access = [line for line in lines if line.get("event") == "request"]
    assert [(a["method"], a["path"], a["status"], a["level"]) for a in access] == [
        ("POST", "/api/tasks", 201, "info"),
        ("GET", "/health", 200, "info"),
    ]
    assert all("timestamp" in a for a in access)
    assert SECRET not in json.dumps(lines)
