"""Job actors (here the restore kind's) on Dramatiq's StubBroker with a real (in-thread) Dramatiq Worker:
retries of transient errors, failures with their reason, duplicate messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any
from uuid import UUID, uuid4

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.stored import stored_tasks
from webapp.cache import ReadCache
from webapp.jobs import runner
from webapp.jobs.actors import RetryPolicy, failure_reason, is_transient
from webapp.jobs.broker import queue_name
from webapp.jobs.kinds import JobContext, JobKind
from webapp.jobs.models import Job
from webapp.jobs.queue import JobQueue
from webapp.restore.schemas import RestoreJobCreate, RestoreJobRead
from webapp.restore.service import RestoreJobService
from webapp.settings import Settings
from webapp.tasks.schemas import TaskCreate
from webapp.tasks.service import TaskService
from webapp.worker import JOB_KINDS

RETRIES = 2


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[JobQueue]:
    """A StubBroker queue whose jobs a real Dramatiq Worker runs, with quick retries."""
    job_queue = JobQueue(
        settings.model_copy(update={"restore_batch_size": 2}),
        JOB_KINDS,
        retry=RetryPolicy(max_retries=RETRIES, min_backoff_ms=10, max_backoff_ms=20),
    )
    worker = dramatiq.Worker(job_queue.broker, worker_threads=1, worker_timeout=50)
    worker.start()
    yield job_queue
    await asyncio.to_thread(worker.stop)
    job_queue.broker.close()


async def run_all(queue: JobQueue) -> None:
    """Wait until every message (retries included) has been handled."""
    name = queue_name(queue.settings, "restore")
    await asyncio.to_thread(queue.broker.join, name, timeout=30_000)


async def trashed_tasks(service: TaskService, count: int) -> list[UUID]:
    ids = []
    for number in range(count):
        task = await service.create(TaskCreate(title=f"task {number}"))
        ids.append((await service.delete(task.id)).id)
    return ids


async def job_after_run(
    session: AsyncSession, service: TaskService, queue: JobQueue, request: RestoreJobCreate
) -> RestoreJobRead:
    jobs = RestoreJobService(session, service.cache, service.caller, queue)
    job = await jobs.create(request)
    await run_all(queue)
    return await jobs.get(job.id)


def failing_run(
    errors: list[Exception], calls: list[int]
) -> Callable[..., Coroutine[Any, Any, Job]]:
    """The runner's `run`, raising the given errors on the first calls."""
    real_run = runner.run

    async def run(context: JobContext, kind: JobKind, job_id: UUID) -> Job:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return await real_run(context, kind, job_id)

    return run


def lost_connection() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("(2013, 'Lost connection to server')"))


async def test_a_message_runs_the_job_to_the_end(
    queue: JobQueue, session: AsyncSession, read_cache: ReadCache, service: TaskService
) -> None:
    ids = await trashed_tasks(service, 5)
    job = await job_after_run(session, service, queue, RestoreJobCreate(ids=ids))
    assert (job.status, job.restored, job.skipped, job.percent) == ("done", 5, 0, 100)


async def test_a_duplicate_message_restores_nothing_twice(
    queue: JobQueue,
    session: AsyncSession,
    read_cache: ReadCache,
    service: TaskService,
    database_url: str,
) -> None:
    ids = await trashed_tasks(service, 5)
    jobs = RestoreJobService(session, read_cache, service.caller, queue)
    job = await jobs.create(RestoreJobCreate(ids=ids))
    await queue.send("restore", job.id)  # delivered twice
    await run_all(queue)

    done = await jobs.get(job.id)
    assert (done.status, done.total, done.restored, done.skipped) == ("done", 5, 5, 0)
    assert {row["version"] for row in await stored_tasks(database_url)} == {3}


async def test_transient_errors_are_retried_and_the_job_completes(
    queue: JobQueue,
    session: AsyncSession,
    read_cache: ReadCache,
    service: TaskService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    errors: list[Exception] = [lost_connection() for _ in range(RETRIES)]
    monkeypatch.setattr(runner, "run", failing_run(errors, calls))
    ids = await trashed_tasks(service, 3)

    job = await job_after_run(session, service, queue, RestoreJobCreate(ids=ids))

    assert (job.status, job.restored, job.error) == ("done", 3, None)
    assert len(calls) == RETRIES + 1


async def test_a_transient_error_that_outlasts_the_retries_fails_the_job(
    queue: JobQueue,
    session: AsyncSession,
    read_cache: ReadCache,
    service: TaskService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    errors: list[Exception] = [lost_connection() for _ in range(RETRIES + 1)]
    monkeypatch.setattr(runner, "run", failing_run(errors, calls))
    ids = await trashed_tasks(service, 3)

    job = await job_after_run(session, service, queue, RestoreJobCreate(ids=ids))

    assert job.status == "failed"
    assert job.error is not None
    assert job.error.startswith("OperationalError:")
    assert "Lost connection" in job.error
    assert len(calls) == RETRIES + 1


async def test_a_permanent_error_fails_the_job_at_once(
    queue: JobQueue,
    session: AsyncSession,
    read_cache: ReadCache,
    service: TaskService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    errors: list[Exception] = [ProgrammingError("UPDATE", {}, Exception("no such column"))]
    monkeypatch.setattr(runner, "run", failing_run(errors, calls))
    ids = await trashed_tasks(service, 2)

    job = await job_after_run(session, service, queue, RestoreJobCreate(ids=ids))

    assert (job.status, job.error) == ("failed", "ProgrammingError: no such column")
    assert len(calls) == 1


@pytest.mark.parametrize("job_id", ["not-a-uuid", str(uuid4())])
async def test_a_message_for_no_job_is_dropped(queue: JobQueue, job_id: str) -> None:
    queue.actors["restore"].send(job_id)
    await run_all(queue)  # fails fast if the message was dead-lettered
    assert isinstance(queue.broker, StubBroker)
    assert queue.broker.dead_letters == []


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (lost_connection(), True),
        (ConnectionRefusedError(111, "refused"), True),
        (ProgrammingError("x", {}, Exception("syntax")), False),
        (ValueError("bug"), False),
    ],
)
def test_is_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_failure_reason_names_the_error_without_the_statement() -> None:
    error = OperationalError("UPDATE task SET secret = 1", {"p": 1}, Exception("gone away"))
    assert failure_reason(error) == "OperationalError: gone away"
    assert len(failure_reason(ValueError("x" * 5000))) == 2000
