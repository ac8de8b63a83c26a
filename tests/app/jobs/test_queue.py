"""The job queue: which broker BROKER_URL selects, the broker's readiness, the in-process
worker of the local mode (including resuming jobs at start), and `python -m webapp worker`."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, CurrentMessage, Retries
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts import Person, client_as
from tests.commands import run_webapp
from tests.databases import make_settings
from webapp.app import create_app
from webapp.cache import MemoryReadCache, NullReadCache
from webapp.cli import dramatiq_command
from webapp.jobs.broker import build_broker
from webapp.jobs.queue import JobQueue
from webapp.restore.schemas import RestoreJobCreate
from webapp.restore.service import RestoreJobService
from webapp.settings import PROJECT_ROOT, Settings
from webapp.tasks.schemas import TaskCreate
from webapp.tasks.service import TaskService
from webapp.worker import JOB_KINDS


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("", StubBroker),
        ("amqp://guest:guest@127.0.0.1:5672/", RabbitmqBroker),
        ("redis://127.0.0.1:6379/13", RedisBroker),
    ],
)
def test_broker_url_selects_the_broker(url: str, kind: type) -> None:
    broker = build_broker(make_settings("sqlite+aiosqlite:///:memory:", broker_url=url))
    try:
        assert isinstance(broker, kind)
        middleware = {type(m) for m in broker.middleware}
        assert {AsyncIO, CurrentMessage, Retries} <= middleware
    finally:
        broker.close()


def test_the_restore_queue_carries_the_prefix() -> None:
    settings = make_settings("sqlite+aiosqlite:///:memory:", broker_queue_prefix="team_a.")
    queue = JobQueue(settings, JOB_KINDS)
    assert queue.actors["restore"].queue_name == "team_a.restore"
    assert "team_a.restore" in queue.broker.get_declared_queues()


async def test_broker_status_is_ok_in_process() -> None:
    queue = JobQueue(make_settings("sqlite+aiosqlite:///:memory:"), JOB_KINDS)
    assert await queue.status() == "ok"


async def test_broker_status_is_down_when_nothing_listens() -> None:
    url = f"amqp://guest:guest@127.0.0.1:{closed_port()}/"
    queue = JobQueue(make_settings("sqlite+aiosqlite:///:memory:", broker_url=url), JOB_KINDS)
    assert await queue.status() == "down"


async def test_ready_says_the_broker_is_degraded_but_stays_ready(settings: Settings) -> None:
    """Jobs wait in the database for the broker: its outage must not take the app out of
    service (a readiness probe would remove every replica at once)."""
    url = f"amqp://guest:guest@127.0.0.1:{closed_port()}/"
    app = create_app(settings.model_copy(update={"broker_url": url}))
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["broker"] == "degraded"
    assert response.json()["status"] == "ready"


async def test_the_app_resumes_jobs_left_unfinished_by_its_last_run(
    settings: Settings, session: AsyncSession, person: Person
) -> None:
    """In-process messages die with the process: the next start sends them again."""
    tasks = TaskService(session, NullReadCache(), person.caller)
    task = await tasks.create(TaskCreate(title="left behind"))
    await tasks.delete(task.id)
    # Recorded, never sent: as if the app had stopped right after the commit.
    jobs = RestoreJobService(session, NullReadCache(), person.caller)
    job = await jobs.create(RestoreJobCreate(all=True))

    app = create_app(settings, read_cache=MemoryReadCache(ttl_seconds=60))
    async with client_as(app, person) as client:
        for _ in range(200):
            body = (await client.get(f"/api/restore-jobs/{job.id}")).json()
            if body["status"] == "done":
                break
            await asyncio.sleep(0.05)
        assert (body["status"], body["restored"]) == ("done", 1)
        assert (await client.get(f"/api/tasks/{task.id}")).status_code == 200


def test_worker_command_runs_dramatiq_on_the_project_broker() -> None:
    command = dramatiq_command(processes=3, threads=4)
    assert command[1:4] == ["-m", "dramatiq", "webapp.worker:configure_broker"]
    assert command[command.index("--processes") + 1] == "3"
    assert command[command.index("--threads") + 1] == "4"


@pytest.mark.parametrize("command", ["worker", "requeue-jobs"])
def test_worker_commands_explain_that_an_empty_broker_url_needs_no_worker(
    tmp_path: Path, command: str
) -> None:
    result = run_webapp(tmp_path, command, DATABASE_URL=f"sqlite:///{tmp_path}/t.sqlite3")
    assert result.returncode == 2
    assert "BROKER_URL is empty" in result.stderr


def test_the_worker_entry_point_does_not_build_the_web_app() -> None:
    """What a worker process imports: the queue and the services, not the pages or the app
    (its memory stays small)."""
    code = (
        "import sys, webapp.worker; print(sorted(m for m in sys.modules if m.startswith('webapp')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "webapp.restore.service" in result.stdout
    assert "webapp.app" not in result.stdout
    assert "webapp.tasks.pages" not in result.stdout
