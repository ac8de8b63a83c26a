"""Restore jobs with BROKER_URL=redis://: a real worker process on the real Redis service,
on a database number of its own (12) and a queue prefix of the test's own."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.databases import make_settings
from tests.needs import REDIS_URL, need
from tests.services.worker_process import (
    WorkerProcess,
    create_job,
    empty_tables,
    finished,
    queue_prefix,
    seed_tasks,
    tasks_by_id,
    wait_for,
)
from webapp.db import create_engine, prepare_database
from webapp.restore.schemas import RestoreJobCreate

pytestmark = pytest.mark.redis
BROKER_URL = REDIS_URL.rsplit("/", 1)[0] + "/12"


@pytest.fixture
def prefix() -> Iterator[str]:
    need("redis")
    name = queue_prefix("restore_redis")
    yield name
    client = redis.Redis.from_url(BROKER_URL)
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)
    client.close()


async def test_a_worker_process_restores_a_job_sent_through_redis(
    tmp_path: Path, prefix: str
) -> None:
    path = tmp_path / "tasks.sqlite3"
    settings = make_settings(
        f"sqlite+aiosqlite:///{path}", broker_url=BROKER_URL, broker_queue_prefix=prefix
    )
    await asyncio.to_thread(prepare_database, settings)  # Alembic runs its own event loop
    engine = create_engine(settings)
    await empty_tables(engine)  # and the owner's account
    worker = WorkerProcess(
        tmp_path,
        "worker",
        DATABASE_URL=settings.database_url,
        BROKER_URL=BROKER_URL,
        BROKER_QUEUE_PREFIX=prefix,
        RESTORE_BATCH_SIZE="4",
    )
    try:
        hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        trashed = await seed_tasks(engine, 10, deleted_at=hour_ago, title="trashed")
        worker.start()

        job = await create_job(settings, RestoreJobCreate(all=True))
        done = await wait_for(engine, job.id, finished, within=60)

        assert (done.status, done.total, done.restored) == ("done", 10, 10)
        tasks = await tasks_by_id(engine)
        assert all(tasks[i].deleted_at is None and tasks[i].version == 2 for i in trashed)
    finally:
        worker.stop()
        await engine.dispose()
