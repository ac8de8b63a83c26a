"""The job runner's lease, with deliveries that overlap: two deliveries of one job at the
same time, a delivery that outlives its lease, and one that arrives while another holds
it. Each on SQLite and MariaDB, checked against what the database holds."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable, Iterable
from uuid import UUID

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.databases import make_settings
from tests.interleave import Gate
from tests.stored import stored_tasks
from webapp.cache import MemoryReadCache
from webapp.jobs import runner
from webapp.jobs.kinds import JobContext, JobKind, Step
from webapp.jobs.models import Job
from webapp.restore.kind import RESTORE
from webapp.restore.schemas import RestoreJobCreate
from webapp.restore.service import RestoreJobService
from webapp.tasks.schemas import TaskCreate
from webapp.tasks.service import TaskService

TASKS = 6
BATCH = 2


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def trashed_job(service: TaskService, session: AsyncSession, *, everything: bool) -> UUID:
    ids = []
    for number in range(TASKS):
        task = await service.create(TaskCreate(title=f"task {number}"))
        ids.append((await service.delete(task.id)).id)
    request = RestoreJobCreate(all=True) if everything else RestoreJobCreate(ids=ids)
    jobs = RestoreJobService(session, MemoryReadCache(ttl_seconds=60), service.caller)
    return (await jobs.create(request)).id


def with_step(before_step: Callable[[int], Awaitable[None]]) -> JobKind:
    """The restore kind, calling `before_step(n)` before its n-th batch (from 1)."""
    steps = 0

    async def step(context: JobContext, job: Job) -> Step:
        nonlocal steps
        steps += 1
        await before_step(steps)
        return await RESTORE.step(context, job)

    return JobKind(name=RESTORE.name, step=step, finish=RESTORE.finish)


async def deliver(
    sessions: async_sessionmaker[AsyncSession], job_id: UUID, kind: JobKind = RESTORE
) -> Job:
    async with sessions() as session:
        settings = make_settings("sqlite://", restore_batch_size=BATCH)
        context = JobContext(session, MemoryReadCache(ttl_seconds=60), settings)
        return await runner.run(context, kind, job_id)


async def assert_each_task_restored_once(database_url: str, job: Job) -> None:
    assert (job.status, job.total, job.done, job.skipped) == ("done", TASKS, TASKS, 0)
    rows = await stored_tasks(database_url)
    assert [row["deleted_at"] for row in rows] == [None] * TASKS
    # create (1), delete (2), restore (3): a task restored twice would be at 4.
    assert {row["version"] for row in rows} == {3}


@pytest.mark.parametrize("everything", [False, True], ids=["selected", "all"])
async def test_two_deliveries_at_once_restore_and_count_each_task_once(
    service: TaskService,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    everything: bool,
) -> None:
    """A duplicate message delivered to two workers at the same moment. Each batch yields
    to the other delivery, so they interleave as much as the lease lets them."""
    job_id = await trashed_job(service, session, everything=everything)

    async def yield_to_the_other(_: int) -> None:
        await asyncio.sleep(0)

    kind = with_step(yield_to_the_other)
    first, second = await asyncio.gather(
        deliver(sessions, job_id, kind), deliver(sessions, job_id, kind)
    )

    final = await deliver(sessions, job_id)
    await assert_each_task_restored_once(database_url, final)
    assert "done" in {first.status, second.status}


class PausingCache(MemoryReadCache):
    """A cache whose `pause_at`-th invalidation stops at `gate`. A job bumps the cache
    right after committing a batch: this stops a delivery between two batches, lease held
    and no transaction open."""

    def __init__(self, gate: Gate, pause_at: int) -> None:
        super().__init__(ttl_seconds=60)
        self.gate = gate
        self.calls = 0
        self.pause_at = pause_at

    async def invalidate(self, scopes: Iterable[str]) -> None:
        self.calls += 1
        await super().invalidate(scopes)
        if self.calls == self.pause_at:
            await self.gate.stop_here()


async def deliver_through(
    sessions: async_sessionmaker[AsyncSession], job_id: UUID, cache: MemoryReadCache
) -> tuple[Job, list[int]]:
    """A delivery with `cache`; returns the job as it ended and the batches it ran."""
    ran: list[int] = []

    async def count(step: int) -> None:
        ran.append(step)

    async with sessions() as session:
        settings = make_settings("sqlite://", restore_batch_size=BATCH)
        context = JobContext(session, cache, settings)
        return await runner.run(context, with_step(count), job_id), ran


async def expire_lease(sessions: async_sessionmaker[AsyncSession], job_id: UUID) -> None:
    async with sessions() as session:
        long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
        await session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=long_ago))
        await session.commit()


async def test_a_delivery_while_another_holds_the_lease_leaves_the_job_alone(
    service: TaskService,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    job_id = await trashed_job(service, session, everything=False)
    gate = Gate()
    holder = asyncio.create_task(deliver_through(sessions, job_id, PausingCache(gate, 1)))
    await gate.wait_until_reached()  # the holder has committed its first batch

    late, late_ran = await deliver_through(sessions, job_id, MemoryReadCache(ttl_seconds=60))

    assert (late.status, late.done, late_ran) == ("running", BATCH, [])
    gate.open()
    finished, ran = await holder
    assert ran == [1, 2, 3, 4]  # three batches of two, and one that finds nothing left
    await assert_each_task_restored_once(database_url, finished)


async def test_a_delivery_that_outlived_its_lease_leaves_the_job_to_its_new_holder(
    service: TaskService,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    """A worker stalls between batches for longer than its lease (a long GC pause, a
    stopped VM); the sweep lets another delivery take the job over. When the first one
    wakes up it must not carry on beside the new holder."""
    job_id = await trashed_job(service, session, everything=True)
    first_gate, second_gate = Gate(), Gate()
    stalled = asyncio.create_task(deliver_through(sessions, job_id, PausingCache(first_gate, 1)))
    await first_gate.wait_until_reached()
    await expire_lease(sessions, job_id)
    taker = asyncio.create_task(deliver_through(sessions, job_id, PausingCache(second_gate, 1)))
    await second_gate.wait_until_reached()  # the new holder is between two batches too

    first_gate.open()
    _, woken_ran = await stalled
    second_gate.open()
    finished, taker_ran = await taker

    assert woken_ran == [1]  # it left without another batch
    assert taker_ran == [1, 2, 3]  # its 1 is the job's 2: the rest of the trash, then the end
    await assert_each_task_restored_once(database_url, finished)


class Recorder:
    """A JobSender that remembers what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[UUID] = []

    async def send(self, kind: str, job_id: UUID) -> None:
        self.sent.append(job_id)


async def test_a_delivery_whose_worker_stops_leaves_after_its_batch_for_the_next_one(
    service: TaskService,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    """SIGTERM to a worker mid-job: the job leaves after the batch in hand with its lease
    expired, so that the next sweep sends it again, and the next delivery carries on."""
    job_id = await trashed_job(service, session, everything=True)
    batches = 0

    def stopping_after_the_first_batch() -> bool:
        nonlocal batches
        batches += 1
        return True

    async with sessions() as worker_session:
        settings = make_settings("sqlite://", restore_batch_size=BATCH)
        cache = MemoryReadCache(ttl_seconds=60)
        context = JobContext(
            worker_session, cache, settings, stopping=stopping_after_the_first_batch
        )
        left = await runner.run(context, RESTORE, job_id)
    assert (left.status, left.done, batches) == ("running", BATCH, 1)
    # Updated a moment ago, so only an expired lease makes it abandoned for the sweep.
    sender = Recorder()
    async with sessions() as sweep_session:
        context = JobContext(sweep_session, MemoryReadCache(ttl_seconds=60), settings, sender)
        assert await runner.sweep(context, [RESTORE.name]) == [job_id]
    assert sender.sent == [job_id]

    final = await deliver(sessions, job_id)
    await assert_each_task_restored_once(database_url, final)
