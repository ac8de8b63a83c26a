"""Restore jobs: created by RestoreJobService, run batch by batch by the job runner with the
restore kind, checked against what the database holds (SQLite and MariaDB). The worker's
crash and duplicate-delivery cases are played here by calling the runner the way a
redelivered message would."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts import Person
from tests.databases import make_settings
from tests.stored import stored_tasks
from webapp.cache import MemoryReadCache, ReadCache
from webapp.db import create_engine
from webapp.errors import InvalidInput, NotFound
from webapp.jobs import runner
from webapp.jobs.kinds import JobContext
from webapp.jobs.models import Job, JobItem, percent_done
from webapp.jobs.runner import LEASE
from webapp.restore.kind import RESTORE
from webapp.restore.schemas import RESTORE_MAX_IDS, RestoreJobCreate, RestoreJobRead
from webapp.restore.service import RestoreJobService, to_read
from webapp.tasks.schemas import TaskCreate, TaskRead
from webapp.tasks.service import TaskService


class RecordingSender:
    """Records what was sent, and what the database held for the job at that moment."""

    def __init__(self, database_url: str, *, fail: bool = False) -> None:
        self.database_url = database_url
        self.fail = fail
        self.sent: list[UUID] = []
        self.committed_at_send: list[bool] = []

    async def send(self, kind: str, job_id: UUID) -> None:
        engine = create_engine(make_settings(self.database_url), pooled=False)
        try:
            async with engine.connect() as connection:
                found = await connection.scalar(
                    select(func.count()).select_from(Job).where(Job.id == job_id)
                )
        finally:
            await engine.dispose()
        self.committed_at_send.append(found == 1)
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.sent.append(job_id)


class CountingCache(MemoryReadCache):
    def __init__(self) -> None:
        super().__init__(ttl_seconds=60)
        self.invalidations = 0

    async def invalidate(self, scopes: Iterable[str]) -> None:
        self.invalidations += 1
        await super().invalidate(scopes)


@pytest.fixture
def sender(database_url: str) -> RecordingSender:
    return RecordingSender(database_url)


@pytest.fixture
def jobs(
    session: AsyncSession, read_cache: ReadCache, sender: RecordingSender, person: Person
) -> RestoreJobService:
    return RestoreJobService(session, read_cache, person.caller, sender)


async def make_tasks(service: TaskService, count: int, *, trashed: bool) -> list[TaskRead]:
    made = []
    for number in range(count):
        task = await service.create(TaskCreate(title=f"task {number}"))
        made.append(await service.delete(task.id) if trashed else task)
    return made


async def stored_job(database_url: str, job_id: UUID) -> dict[str, Any]:
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(select(Job.__table__).where(Job.id == job_id))).one()
            return dict(row._mapping)
    finally:
        await engine.dispose()


async def count_rows(database_url: str, model: type[Job | JobItem]) -> int:
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


async def run(
    session: AsyncSession, cache: ReadCache, job_id: UUID, batch_size: int
) -> RestoreJobRead:
    """One delivery of the job's message, as a worker runs it, in batches of `batch_size`."""
    settings = make_settings("sqlite://", restore_batch_size=batch_size)
    job = await runner.run(JobContext(session, cache, settings), RESTORE, job_id)
    return to_read(job)


async def expire_lease(session: AsyncSession, job_id: UUID) -> None:
    """What time does to the lease of a worker that died: it runs out."""
    await session.rollback()
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    await session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=long_ago))
    await session.commit()


def in_trash(rows: list[dict[str, Any]]) -> set[UUID]:
    return {row["id"] for row in rows if row["deleted_at"] is not None}


# ------------------------------------------------------------------------ creating


async def test_create_with_ids_counts_unknown_and_live_ids_as_skipped(
    jobs: RestoreJobService, service: TaskService, sender: RecordingSender, database_url: str
) -> None:
    trashed = await make_tasks(service, 3, trashed=True)
    live = await make_tasks(service, 1, trashed=False)
    unknown = uuid4()
    ids = [t.id for t in trashed] + [live[0].id, unknown, trashed[0].id]  # one duplicate

    job = await jobs.create(RestoreJobCreate(ids=ids))

    assert (job.status, job.scope, job.total, job.restored, job.skipped) == (
        "queued",
        "selected",
        5,
        0,
        2,
    )
    assert job.percent == 40
    stored = await stored_job(database_url, job.id)
    assert (stored["status"], stored["total"], stored["skipped"]) == ("queued", 5, 2)
    assert await count_rows(database_url, JobItem) == 3
    assert sender.sent == [job.id]
    assert sender.committed_at_send == [True]


async def test_create_all_counts_the_trash_and_sends_after_commit(
    jobs: RestoreJobService, service: TaskService, sender: RecordingSender
) -> None:
    await make_tasks(service, 4, trashed=True)
    await make_tasks(service, 2, trashed=False)

    job = await jobs.create(RestoreJobCreate(all=True))

    assert (job.scope, job.total, job.skipped) == ("all", 4, 0)
    assert sender.committed_at_send == [True]


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        (RestoreJobCreate(ids=[]), "ids"),
        (RestoreJobCreate(), "ids"),
        (RestoreJobCreate(ids=[uuid4()], all=True), "all"),
    ],
)
async def test_bad_requests_raise_and_record_nothing(
    jobs: RestoreJobService,
    sender: RecordingSender,
    database_url: str,
    request_body: RestoreJobCreate,
    field: str,
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await jobs.create(request_body)
    assert field in raised.value.errors
    assert await count_rows(database_url, Job) == 0
    assert sender.sent == []


async def test_more_than_the_maximum_of_ids_is_refused(
    jobs: RestoreJobService, sender: RecordingSender, database_url: str
) -> None:
    too_many = [uuid4() for _ in range(RESTORE_MAX_IDS + 1)]
    with pytest.raises(InvalidInput) as raised:
        await jobs.create(RestoreJobCreate(ids=too_many))
    assert f"at most {RESTORE_MAX_IDS}" in raised.value.errors["ids"]
    assert await count_rows(database_url, Job) == 0
    assert await count_rows(database_url, JobItem) == 0


async def test_the_maximum_of_ids_is_accepted(jobs: RestoreJobService, database_url: str) -> None:
    job = await jobs.create(RestoreJobCreate(ids=[uuid4() for _ in range(RESTORE_MAX_IDS)]))
    assert (job.total, job.skipped) == (RESTORE_MAX_IDS, RESTORE_MAX_IDS)


async def test_a_broker_that_refuses_the_message_leaves_the_job_queued(
    session: AsyncSession, read_cache: ReadCache, service: TaskService, database_url: str
) -> None:
    await make_tasks(service, 1, trashed=True)
    failing = RecordingSender(database_url, fail=True)
    job = await RestoreJobService(session, read_cache, service.caller, failing).create(
        RestoreJobCreate(all=True)
    )
    assert job.status == "queued"
    assert (await stored_job(database_url, job.id))["status"] == "queued"


async def test_get_of_an_unknown_job_is_not_found(jobs: RestoreJobService) -> None:
    with pytest.raises(NotFound):
        await jobs.get(uuid4())


# ------------------------------------------------------------------------ running


async def test_run_restores_the_selected_tasks_in_batches(
    jobs: RestoreJobService, service: TaskService, database_url: str
) -> None:
    selected = await make_tasks(service, 5, trashed=True)
    other = await make_tasks(service, 2, trashed=True)
    live = await make_tasks(service, 1, trashed=False)
    job = await jobs.create(RestoreJobCreate(ids=[t.id for t in selected] + [live[0].id]))
    cache = CountingCache()

    done = await run(jobs.session, cache, job.id, 2)

    assert (done.status, done.total, done.restored, done.skipped, done.percent) == (
        "done",
        6,
        5,
        1,
        100,
    )
    assert done.started_at is not None
    assert done.finished_at is not None
    assert done.duration_seconds is not None
    assert done.duration_seconds >= 0
    rows = {row["id"]: row for row in await stored_tasks(database_url)}
    assert in_trash(list(rows.values())) == {t.id for t in other}
    assert all(rows[t.id]["version"] == t.version + 1 for t in selected)
    assert rows[live[0].id]["version"] == live[0].version
    assert rows[live[0].id]["updated_at"] == live[0].updated_at
    assert cache.invalidations == 3  # batches of 2, 2 and 1 each restored something


async def test_run_all_leaves_tasks_deleted_after_the_job_was_created(
    jobs: RestoreJobService, service: TaskService, database_url: str
) -> None:
    before = await make_tasks(service, 3, trashed=True)
    later = await make_tasks(service, 2, trashed=False)
    job = await jobs.create(RestoreJobCreate(all=True))
    for task in later:
        await service.delete(task.id)

    done = await run(jobs.session, jobs.cache, job.id, 2)

    assert (done.status, done.total, done.restored, done.skipped) == ("done", 3, 3, 0)
    rows = await stored_tasks(database_url)
    assert in_trash(rows) == {t.id for t in later}
    assert not in_trash(rows) & {t.id for t in before}


async def test_tasks_trashed_at_the_same_instant_are_split_across_batches(
    jobs: RestoreJobService, service: TaskService, database_url: str
) -> None:
    """Clear completed trashes many tasks with one deleted_at: batches must still split
    them (by id) and the resumed walk must neither skip nor repeat any."""
    made = await make_tasks(service, 7, trashed=False)
    for task in made:
        await service.complete(task.id)
    assert await service.clear_completed() == 7
    job = await jobs.create(RestoreJobCreate(all=True))

    with pytest.raises(SystemExit):
        await run(jobs.session, CrashAfter(2), job.id, 3)
    await expire_lease(jobs.session, job.id)
    assert (await stored_job(database_url, job.id))["done"] == 6
    done = await run(jobs.session, jobs.cache, job.id, 3)

    assert (done.status, done.total, done.restored, done.skipped) == ("done", 7, 7, 0)
    rows = await stored_tasks(database_url)
    assert in_trash(rows) == set()
    assert {row["version"] for row in rows} == {made[0].version + 3}  # complete, clear, restore


async def test_tasks_taken_out_of_the_trash_meanwhile_are_skipped(
    jobs: RestoreJobService, service: TaskService
) -> None:
    selected = await make_tasks(service, 3, trashed=True)
    everything = await make_tasks(service, 2, trashed=True)
    chosen = await jobs.create(RestoreJobCreate(ids=[t.id for t in selected]))
    whole_trash = await jobs.create(RestoreJobCreate(all=True))
    await service.restore(selected[0].id)
    await service.purge(everything[0].id)

    chosen_done = await run(jobs.session, jobs.cache, chosen.id, 10)
    all_done = await run(jobs.session, jobs.cache, whole_trash.id, 10)

    assert (chosen_done.restored, chosen_done.skipped) == (2, 1)
    assert (all_done.total, all_done.restored, all_done.skipped) == (5, 1, 4)
    assert all_done.percent == 100


async def test_an_empty_job_finishes_at_once(jobs: RestoreJobService) -> None:
    job = await jobs.create(RestoreJobCreate(all=True))
    done = await run(jobs.session, jobs.cache, job.id, 10)
    assert (done.status, done.total, done.restored, done.percent) == ("done", 0, 0, 100)


async def test_running_a_finished_job_again_changes_nothing(
    jobs: RestoreJobService, service: TaskService, database_url: str
) -> None:
    """A duplicate message: the second delivery finds the job done."""
    selected = await make_tasks(service, 3, trashed=True)
    job = await jobs.create(RestoreJobCreate(ids=[t.id for t in selected]))
    first = await run(jobs.session, jobs.cache, job.id, 2)
    tasks_after_first = await stored_tasks(database_url)

    second = await run(jobs.session, jobs.cache, job.id, 2)

    assert second == first
    assert await stored_tasks(database_url) == tasks_after_first


class CrashAfter(MemoryReadCache):
    """A worker that dies right after its `batches`-th commit (its invalidate never returns)."""

    def __init__(self, batches: int) -> None:
        super().__init__(ttl_seconds=60)
        self.left = batches

    async def invalidate(self, scopes: Iterable[str]) -> None:
        self.left -= 1
        if self.left == 0:
            raise SystemExit("killed")


@pytest.mark.parametrize("scope", ["selected", "all"])
async def test_a_job_interrupted_after_a_commit_resumes_without_counting_twice(
    session: AsyncSession, service: TaskService, database_url: str, scope: str
) -> None:
    selected = await make_tasks(service, 7, trashed=True)
    request = (
        RestoreJobCreate(all=True)
        if scope == "all"
        else RestoreJobCreate(ids=[t.id for t in selected])
    )
    job = await RestoreJobService(session, MemoryReadCache(ttl_seconds=60), service.caller).create(
        request
    )

    with pytest.raises(SystemExit):
        await run(session, CrashAfter(2), job.id, 2)
    halfway = await stored_job(database_url, job.id)
    assert (halfway["status"], halfway["done"]) == ("running", 4)
    assert len(in_trash(await stored_tasks(database_url))) == 3
    # Another delivery, while the dead worker's lease lasts: it leaves the job alone.
    await session.rollback()
    held = await run(session, MemoryReadCache(ttl_seconds=60), job.id, 2)
    assert (held.status, held.restored) == ("running", 4)

    await expire_lease(session, job.id)
    done = await run(session, MemoryReadCache(ttl_seconds=60), job.id, 2)
    assert (done.status, done.total, done.restored, done.skipped) == ("done", 7, 7, 0)
    rows = await stored_tasks(database_url)
    assert in_trash(rows) == set()
    assert {row["version"] for row in rows} == {selected[0].version + 1}


async def test_a_batch_that_fails_before_its_commit_is_not_counted(
    session: AsyncSession,
    service: TaskService,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    selected = await make_tasks(service, 5, trashed=True)
    jobs = RestoreJobService(session, MemoryReadCache(ttl_seconds=60), service.caller)
    job = await jobs.create(RestoreJobCreate(ids=[t.id for t in selected]))
    real_commit = session.commit
    commits = 0

    async def commit_fails_on_the_second_batch() -> None:
        nonlocal commits
        commits += 1
        if commits == 3:  # the claim, the first batch, then the second batch
            raise OperationalError("COMMIT", {}, Exception("connection lost"))
        await real_commit()

    monkeypatch.setattr(session, "commit", commit_fails_on_the_second_batch)
    with pytest.raises(OperationalError):
        await run(jobs.session, jobs.cache, job.id, 2)
    await expire_lease(session, job.id)
    assert (await stored_job(database_url, job.id))["done"] == 2

    monkeypatch.setattr(session, "commit", real_commit)
    done = await run(jobs.session, jobs.cache, job.id, 2)
    assert (done.restored, done.skipped) == (5, 0)
    assert in_trash(await stored_tasks(database_url)) == set()


async def test_run_of_an_unknown_job_is_not_found(jobs: RestoreJobService) -> None:
    with pytest.raises(NotFound):
        await run(jobs.session, jobs.cache, uuid4(), 10)


async def test_fail_marks_an_unfinished_job_with_the_reason(
    jobs: RestoreJobService, service: TaskService
) -> None:
    await make_tasks(service, 1, trashed=True)
    queued = await jobs.create(RestoreJobCreate(all=True))
    done = await jobs.create(RestoreJobCreate(all=True))
    await run(jobs.session, jobs.cache, done.id, 10)

    await runner.fail(jobs.session, queued.id, "OperationalError: gone away")
    await runner.fail(jobs.session, done.id, "too late")

    failed = await jobs.get(queued.id)
    assert (failed.status, failed.error) == ("failed", "OperationalError: gone away")
    assert failed.finished_at is not None
    still_done = await jobs.get(done.id)
    assert (still_done.status, still_done.error) == ("done", None)


# ------------------------------------------------------------------------ re-sending


async def test_a_sweep_sends_again_jobs_nobody_works_on(
    jobs: RestoreJobService, sender: RecordingSender, database_url: str
) -> None:
    """Unclaimed for a while (a lost message) or holding an expired lease (a dead worker):
    sent again, once. Fresh, held or finished jobs are left alone."""
    lost = await jobs.create(RestoreJobCreate(all=True))
    orphaned = await jobs.create(RestoreJobCreate(all=True))
    held = await jobs.create(RestoreJobCreate(all=True))
    fresh = await jobs.create(RestoreJobCreate(all=True))
    finished = await jobs.create(RestoreJobCreate(all=True))
    await run(jobs.session, jobs.cache, finished.id, 10)
    now = datetime.datetime.now(datetime.UTC)
    long_ago = now - datetime.timedelta(minutes=5)
    for job_id, values in (
        (lost.id, {"updated_at": long_ago}),
        (orphaned.id, {"status": "running", "lease_owner": "dead", "lease_expires_at": long_ago}),
        (
            held.id,
            {"status": "running", "lease_owner": "alive", "lease_expires_at": now + LEASE},
        ),
        (finished.id, {"updated_at": long_ago}),
    ):
        await jobs.session.execute(update(Job).where(Job.id == job_id).values(**values))
    await jobs.session.commit()
    sender.sent.clear()
    context = JobContext(jobs.session, jobs.cache, make_settings("sqlite://"), sender)

    resent = await runner.sweep(context, ["restore"])

    assert set(resent) == set(sender.sent) == {lost.id, orphaned.id}
    assert fresh.id not in sender.sent
    released = await stored_job(database_url, orphaned.id)
    assert (released["status"], released["lease_owner"]) == ("running", None)
    # Touched: an immediate second pass (another worker's sweep) sends nothing again.
    assert await runner.sweep(context, ["restore"]) == []


@pytest.mark.parametrize(
    ("status", "total", "handled", "percent"),
    [
        ("queued", 0, 0, 0),
        ("running", 3, 1, 33),
        ("running", 3, 3, 100),
        ("failed", 4, 1, 25),
        ("done", 0, 0, 100),
        ("done", 10, 7, 100),
    ],
)
def test_percent_done(status: str, total: int, handled: int, percent: int) -> None:
    assert percent_done(status, total, handled) == percent


def test_read_shape_reports_finished() -> None:
    now = datetime.datetime.now(datetime.UTC)
    common: dict[str, Any] = {
        "id": uuid4(),
        "scope": "all",
        "total": 1,
        "restored": 0,
        "skipped": 0,
        "percent": 0,
        "error": None,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "updated_at": now,
        "duration_seconds": None,
    }
    assert not RestoreJobRead(status="running", **common).finished
    assert RestoreJobRead(status="failed", **common).finished


async def test_items_are_only_the_trashed_ids(
    jobs: RestoreJobService, service: TaskService, session: AsyncSession
) -> None:
    trashed = await make_tasks(service, 2, trashed=True)
    live = await make_tasks(service, 1, trashed=False)
    job = await jobs.create(RestoreJobCreate(ids=[t.id for t in trashed + live]))
    items = set(await session.scalars(select(JobItem.item_id).where(JobItem.job_id == job.id)))
    assert items == {t.id for t in trashed}
