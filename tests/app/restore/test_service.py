"""RestoreJobService: creating, running and re-sending jobs, checked against what the database
holds (SQLite and MariaDB). The worker's crash and duplicate-delivery cases are played here
by calling `run` the way a redelivered message would."""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.databases import make_settings
from tests.stored import stored_tasks
from webapp.cache import MemoryReadCache, ReadCache
from webapp.db import create_engine
from webapp.errors import InvalidInput, NotFound
from webapp.restore.models import RESTORE_MAX_IDS, RestoreJob, RestoreJobItem
from webapp.restore.schemas import RestoreJobCreate, RestoreJobRead
from webapp.restore.service import RestoreJobService, percent_done
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
                    select(func.count()).select_from(RestoreJob).where(RestoreJob.id == job_id)
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

    async def invalidate(self) -> None:
        self.invalidations += 1
        await super().invalidate()


@pytest.fixture
def sender(database_url: str) -> RecordingSender:
    return RecordingSender(database_url)


@pytest.fixture
def jobs(
    session: AsyncSession, read_cache: ReadCache, sender: RecordingSender
) -> RestoreJobService:
    return RestoreJobService(session, read_cache, sender)


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
            row = (
                await connection.execute(
                    select(RestoreJob.__table__).where(RestoreJob.id == job_id)
                )
            ).one()
            return dict(row._mapping)
    finally:
        await engine.dispose()


async def count_rows(database_url: str, model: type[RestoreJob | RestoreJobItem]) -> int:
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


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
    assert await count_rows(database_url, RestoreJobItem) == 3
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
    assert await count_rows(database_url, RestoreJob) == 0
    assert sender.sent == []


async def test_more_than_the_maximum_of_ids_is_refused(
    jobs: RestoreJobService, sender: RecordingSender, database_url: str
) -> None:
    too_many = [uuid4() for _ in range(RESTORE_MAX_IDS + 1)]
    with pytest.raises(InvalidInput) as raised:
        await jobs.create(RestoreJobCreate(ids=too_many))
    assert f"at most {RESTORE_MAX_IDS}" in raised.value.errors["ids"]
    assert await count_rows(database_url, RestoreJob) == 0
    assert await count_rows(database_url, RestoreJobItem) == 0


async def test_the_maximum_of_ids_is_accepted(jobs: RestoreJobService, database_url: str) -> None:
    job = await jobs.create(RestoreJobCreate(ids=[uuid4() for _ in range(RESTORE_MAX_IDS)]))
    assert (job.total, job.skipped) == (RESTORE_MAX_IDS, RESTORE_MAX_IDS)


async def test_a_broker_that_refuses_the_message_leaves_the_job_queued(
    session: AsyncSession, read_cache: ReadCache, service: TaskService, database_url: str
) -> None:
    await make_tasks(service, 1, trashed=True)
    failing = RecordingSender(database_url, fail=True)
    job = await RestoreJobService(session, read_cache, failing).create(RestoreJobCreate(all=True))
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

    done = await RestoreJobService(jobs.session, cache).run(job.id, batch_size=2)

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

    done = await jobs.run(job.id, batch_size=2)

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
        await RestoreJobService(jobs.session, CrashAfter(2)).run(job.id, batch_size=3)
    await jobs.session.rollback()
    assert (await stored_job(database_url, job.id))["restored"] == 6
    done = await jobs.run(job.id, batch_size=3)

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

    chosen_done = await jobs.run(chosen.id, batch_size=10)
    all_done = await jobs.run(whole_trash.id, batch_size=10)

    assert (chosen_done.restored, chosen_done.skipped) == (2, 1)
    assert (all_done.total, all_done.restored, all_done.skipped) == (5, 1, 4)
    assert all_done.percent == 100


async def test_an_empty_job_finishes_at_once(jobs: RestoreJobService) -> None:
    job = await jobs.create(RestoreJobCreate(all=True))
    done = await jobs.run(job.id, batch_size=10)
    assert (done.status, done.total, done.restored, done.percent) == ("done", 0, 0, 100)


async def test_running_a_finished_job_again_changes_nothing(
    jobs: RestoreJobService, service: TaskService, database_url: str
) -> None:
    """A duplicate message: the second delivery finds the job done."""
    selected = await make_tasks(service, 3, trashed=True)
    job = await jobs.create(RestoreJobCreate(ids=[t.id for t in selected]))
    first = await jobs.run(job.id, batch_size=2)
    tasks_after_first = await stored_tasks(database_url)

    second = await jobs.run(job.id, batch_size=2)

    assert second == first
    assert await stored_tasks(database_url) == tasks_after_first


class CrashAfter(MemoryReadCache):
    """A worker that dies right after its `batches`-th commit (its invalidate never returns)."""

    def __init__(self, batches: int) -> None:
        super().__init__(ttl_seconds=60)
        self.left = batches

    async def invalidate(self) -> None:
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
    job = await RestoreJobService(session, MemoryReadCache(ttl_seconds=60)).create(request)

    with pytest.raises(SystemExit):
        await RestoreJobService(session, CrashAfter(2)).run(job.id, batch_size=2)
    halfway = await stored_job(database_url, job.id)
    assert (halfway["status"], halfway["restored"]) == ("running", 4)
    assert len(in_trash(await stored_tasks(database_url))) == 3

    await session.rollback()
    done = await RestoreJobService(session, MemoryReadCache(ttl_seconds=60)).run(
        job.id, batch_size=2
    )
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
    jobs = RestoreJobService(session, MemoryReadCache(ttl_seconds=60))
    job = await jobs.create(RestoreJobCreate(ids=[t.id for t in selected]))
    real_commit = session.commit
    commits = 0

    async def commit_fails_on_the_second_batch() -> None:
        nonlocal commits
        commits += 1
        if commits == 2:
            raise OperationalError("COMMIT", {}, Exception("connection lost"))
        await real_commit()

    monkeypatch.setattr(session, "commit", commit_fails_on_the_second_batch)
    with pytest.raises(OperationalError):
        await jobs.run(job.id, batch_size=2)
    await session.rollback()
    assert (await stored_job(database_url, job.id))["restored"] == 2

    monkeypatch.setattr(session, "commit", real_commit)
    done = await jobs.run(job.id, batch_size=2)
    assert (done.restored, done.skipped) == (5, 0)
    assert in_trash(await stored_tasks(database_url)) == set()


async def test_run_of_an_unknown_job_is_not_found(jobs: RestoreJobService) -> None:
    with pytest.raises(NotFound):
        await jobs.run(uuid4(), batch_size=10)


async def test_fail_marks_an_unfinished_job_with_the_reason(
    jobs: RestoreJobService, service: TaskService
) -> None:
    await make_tasks(service, 1, trashed=True)
    queued = await jobs.create(RestoreJobCreate(all=True))
    done = await jobs.create(RestoreJobCreate(all=True))
    await jobs.run(done.id, batch_size=10)

    await jobs.fail(queued.id, "OperationalError: gone away")
    await jobs.fail(done.id, "too late")

    failed = await jobs.get(queued.id)
    assert (failed.status, failed.error) == ("failed", "OperationalError: gone away")
    assert failed.finished_at is not None
    still_done = await jobs.get(done.id)
    assert (still_done.status, still_done.error) == ("done", None)


# ------------------------------------------------------------------------ re-sending


async def test_requeue_sends_unfinished_jobs_untouched_for_a_while(
    jobs: RestoreJobService, sender: RecordingSender, database_url: str
) -> None:
    stale_queued = await jobs.create(RestoreJobCreate(all=True))
    stale_running = await jobs.create(RestoreJobCreate(all=True))
    fresh = await jobs.create(RestoreJobCreate(all=True))
    finished = await jobs.create(RestoreJobCreate(all=True))
    await jobs.run(finished.id, batch_size=10)
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    for job_id, status in ((stale_queued.id, "queued"), (stale_running.id, "running")):
        await jobs.session.execute(
            update(RestoreJob)
            .where(RestoreJob.id == job_id)
            .values(status=status, updated_at=long_ago)
        )
    await jobs.session.execute(
        update(RestoreJob).where(RestoreJob.id == finished.id).values(updated_at=long_ago)
    )
    await jobs.session.commit()
    sender.sent.clear()

    resent = await jobs.requeue(older_than=datetime.timedelta(minutes=1))

    assert set(resent) == {stale_queued.id, stale_running.id}
    assert set(sender.sent) == {stale_queued.id, stale_running.id}
    assert fresh.id not in sender.sent
    # Touched: an immediate second pass does not send them again.
    assert await jobs.requeue(older_than=datetime.timedelta(minutes=1)) == []


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
    items = set(
        await session.scalars(select(RestoreJobItem.task_id).where(RestoreJobItem.job_id == job.id))
    )
    assert items == {t.id for t in trashed}
