"""Restore jobs through the real RabbitMQ service and real worker processes
(`python -m webapp worker`), each test on a queue prefix of its own.

The crash tests restore 20,000 tasks (the whole trash) and 10,000 chosen ones on MariaDB
(database `tasks_restore_test_<pid>`, dropped after): they SIGKILL the worker mid-job, start another, and check
that the job completes with exactly the selected tasks restored, each once, and nothing
else touched (live tasks, tasks deleted after the job was created, unselected ones).
"""

from __future__ import annotations

import asyncio
import datetime
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.databases import make_settings, mariadb_url
from tests.needs import RABBITMQ_URL, need
from tests.services.worker_process import (
    OWNER,
    WorkerProcess,
    create_job,
    delete_rabbitmq_queues,
    empty_tables,
    finished,
    queue_prefix,
    read_job,
    seed_tasks,
    tasks_by_id,
    wait_for,
)
from webapp.cache import NullReadCache
from webapp.db import create_database, create_engine, prepare_database
from webapp.restore.schemas import RestoreJobCreate
from webapp.restore.service import RestoreJobService
from webapp.settings import Settings
from webapp.tasks.service import TaskService

pytestmark = pytest.mark.rabbitmq
DATABASE = f"tasks_restore_test_{os.getpid()}"
HOUR_AGO = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)


@pytest.fixture(scope="module")
def mariadb_restore_url() -> Iterator[str]:
    """The crash tests' own MariaDB database, built from the migrations, dropped after.
    Named for this process, so that two suites running at once do not share it."""
    need("mariadb")
    asyncio.run(create_database(mariadb_url(DATABASE)))
    url = mariadb_url(DATABASE)
    prepare_database(make_settings(url, db_reset_on_start=True))
    yield url
    asyncio.run(drop_database(url))


async def drop_database(url: str) -> None:
    engine = create_engine(make_settings(url), pooled=False)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS `{DATABASE}`"))
    finally:
        await engine.dispose()


@pytest.fixture
def prefix() -> Iterator[str]:
    need("rabbitmq")
    name = queue_prefix("restore")
    yield name
    delete_rabbitmq_queues(name)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Every worker a test starts, stopped (or killed) at the end whatever happens."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.kill()


def start_worker(
    workers: list[WorkerProcess], tmp_path: Path, settings: Settings, batch_size: int
) -> WorkerProcess:
    worker = WorkerProcess(
        tmp_path,
        f"worker-{len(workers) + 1}",
        DATABASE_URL=settings.database_url,
        BROKER_URL=settings.broker_url,
        BROKER_QUEUE_PREFIX=settings.broker_queue_prefix,
        RESTORE_BATCH_SIZE=str(batch_size),
        WORKER_PROCESSES="1",
        WORKER_THREADS="2",
    )
    workers.append(worker)
    return worker.start()


@pytest.fixture
def mariadb_settings(mariadb_restore_url: str, prefix: str) -> Settings:
    return make_settings(mariadb_restore_url, broker_url=RABBITMQ_URL, broker_queue_prefix=prefix)


@pytest.fixture
async def mariadb_engine(mariadb_restore_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(make_settings(mariadb_restore_url))
    await empty_tables(engine)
    yield engine
    await engine.dispose()


async def test_a_worker_process_restores_a_job_sent_through_rabbitmq(
    tmp_path: Path, prefix: str, workers: list[WorkerProcess]
) -> None:
    path = tmp_path / "tasks.sqlite3"
    settings = make_settings(
        f"sqlite+aiosqlite:///{path}", broker_url=RABBITMQ_URL, broker_queue_prefix=prefix
    )
    await asyncio.to_thread(prepare_database, settings)  # Alembic runs its own event loop
    engine = create_engine(settings)
    try:
        await empty_tables(engine)  # and the owner's account
        trashed = await seed_tasks(engine, 30, deleted_at=HOUR_AGO, title="trashed")
        live = await seed_tasks(engine, 5, deleted_at=None, title="live")
        start_worker(workers, tmp_path, settings, batch_size=7)

        job = await create_job(settings, RestoreJobCreate(ids=[*trashed[:20], live[0], uuid4()]))
        done = await wait_for(engine, job.id, finished, within=60)

        assert (done.status, done.total, done.restored, done.skipped) == ("done", 22, 20, 2)
        tasks = await tasks_by_id(engine)
        assert {i for i, t in tasks.items() if t.deleted_at is not None} == set(trashed[20:])
        assert all(tasks[i].version == 2 for i in trashed[:20])
        assert all(tasks[i].version == 1 for i in live)
    finally:
        await engine.dispose()


async def test_a_job_whose_message_was_lost_is_sent_again_by_requeue_jobs(
    tmp_path: Path,
    workers: list[WorkerProcess],
    mariadb_engine: AsyncEngine,
    mariadb_settings: Settings,
) -> None:
    settings = mariadb_settings
    await seed_tasks(mariadb_engine, 10, deleted_at=HOUR_AGO, title="trashed")
    start_worker(workers, tmp_path, settings, batch_size=3)
    # Committed but never sent: the app died between the two.
    async with AsyncSession(mariadb_engine, expire_on_commit=False) as session:
        job = await RestoreJobService(session, NullReadCache(), OWNER).create(
            RestoreJobCreate(all=True)
        )
    await asyncio.sleep(0.5)
    assert (await read_job(mariadb_engine, job.id)).status == "queued"

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "webapp", "requeue-jobs", "--older-than", "0"],
        cwd=tmp_path,
        env={**workers[0].env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert f"re-sent 1 job(s)\n  {job.id}" in result.stdout
    done = await wait_for(mariadb_engine, job.id, finished, within=60)
    assert (done.status, done.restored) == ("done", 10)


async def crash_mid_job(
    engine: AsyncEngine,
    job_id: UUID,
    workers: list[WorkerProcess],
) -> int:
    """Wait until the job has made some progress but not all, SIGKILL the worker, and
    return how far it had got; check that nothing moves while no worker runs."""
    total = (await read_job(engine, job_id)).total
    running = await wait_for(
        engine, job_id, lambda job: job.restored > 0 and job.percent < 100, every=0.005
    )
    workers[-1].kill()
    after_kill = await read_job(engine, job_id)
    assert after_kill.status == "running"
    assert running.restored <= after_kill.restored < total
    await asyncio.sleep(1.0)
    assert (await read_job(engine, job_id)).restored == after_kill.restored
    return after_kill.restored


async def test_crash_mid_job_restoring_the_whole_trash(
    tmp_path: Path,
    workers: list[WorkerProcess],
    mariadb_engine: AsyncEngine,
    mariadb_settings: Settings,
) -> None:
    settings = mariadb_settings
    selected = await seed_tasks(mariadb_engine, 20_000, deleted_at=HOUR_AGO, title="trashed")
    live = await seed_tasks(mariadb_engine, 50, deleted_at=None, title="live")
    start_worker(workers, tmp_path, settings, batch_size=250)

    job = await create_job(settings, RestoreJobCreate(all=True))
    assert job.total == 20_000
    # Deleted after the job was created: not part of it.
    async with AsyncSession(mariadb_engine, expire_on_commit=False) as session:
        tasks = TaskService(session, NullReadCache(), OWNER)
        late = [(await tasks.delete(task_id)).id for task_id in live[:10]]

    restored_at_kill = await crash_mid_job(mariadb_engine, job.id, workers)
    start_worker(workers, tmp_path, settings, batch_size=250)
    done = await wait_for(mariadb_engine, job.id, finished)

    assert (done.status, done.total, done.restored, done.skipped) == ("done", 20_000, 20_000, 0)
    assert 0 < restored_at_kill < 20_000
    stored = await tasks_by_id(mariadb_engine)
    assert all(stored[i].deleted_at is None and stored[i].version == 2 for i in selected)
    assert all(stored[i].deleted_at is not None and stored[i].version == 2 for i in late)
    assert all(stored[i].deleted_at is None and stored[i].version == 1 for i in live[10:])
    assert "Traceback" not in workers[-1].log()


async def test_crash_mid_job_restoring_chosen_tasks(
    tmp_path: Path,
    workers: list[WorkerProcess],
    mariadb_engine: AsyncEngine,
    mariadb_settings: Settings,
) -> None:
    settings = mariadb_settings
    trashed = await seed_tasks(mariadb_engine, 12_000, deleted_at=HOUR_AGO, title="trashed")
    live = await seed_tasks(mariadb_engine, 20, deleted_at=None, title="live")
    chosen, left_alone = trashed[:9_980], trashed[9_980:]
    start_worker(workers, tmp_path, settings, batch_size=200)

    unknown = uuid4()
    ids = [*chosen, *live[:10], unknown, unknown]  # a duplicate counts once
    job = await create_job(settings, RestoreJobCreate(ids=ids))
    assert (job.total, job.skipped) == (9_991, 11)

    await crash_mid_job(mariadb_engine, job.id, workers)
    start_worker(workers, tmp_path, settings, batch_size=200)
    done = await wait_for(mariadb_engine, job.id, finished)

    assert (done.status, done.restored, done.skipped) == ("done", 9_980, 11)
    stored = await tasks_by_id(mariadb_engine)
    assert all(stored[i].deleted_at is None and stored[i].version == 2 for i in chosen)
    assert all(stored[i].deleted_at is not None and stored[i].version == 1 for i in left_alone)
    assert all(stored[i].deleted_at is None and stored[i].version == 1 for i in live)
