"""Operations that overlap, as a busy multi-user service meets them, each on SQLite and
MariaDB. The interleaving is forced where it matters (a Gate stops one operation at the
risky point while the other runs), and every test asserts what the database holds
afterwards, not only what the calls returned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.databases import make_settings
from tests.interleave import Gate
from tests.stored import stored_tasks
from webapp.accounts.caller import Caller
from webapp.cache import MemoryReadCache, ReadCache
from webapp.errors import NotFound, StaleVersion
from webapp.jobs import runner
from webapp.jobs.kinds import JobContext
from webapp.restore.kind import RESTORE
from webapp.restore.schemas import RestoreJobCreate
from webapp.restore.service import RestoreJobService
from webapp.tasks.models import Task
from webapp.tasks.schemas import TaskCreate, TaskQuery, TaskRead, TaskUpdate
from webapp.tasks.service import TaskService
from webapp.tasks.validation import Where


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def another_service(
    sessions: async_sessionmaker[AsyncSession], cache: ReadCache, caller: Caller
) -> AsyncIterator[TaskService]:
    """A TaskService on a session of its own: another request, maybe another process."""
    async with sessions() as session:
        yield TaskService(session, cache, caller)


def stop_after_load(monkeypatch: pytest.MonkeyPatch, service: TaskService, gate: Gate) -> None:
    """`service` stops at `gate` right after its first read of a task to change: the
    window between reading a row and writing it, where another writer can commit."""
    load = TaskService._load
    stopped: list[bool] = []

    async def load_then_stop(self: TaskService, task_id: UUID, where: Where) -> Task:
        loaded = await load(self, task_id, where)
        if self is service and not stopped:
            stopped.append(True)
            await gate.stop_here()
        return loaded

    monkeypatch.setattr(TaskService, "_load", load_then_stop)


async def titles(database_url: str) -> dict[str, dict[str, Any]]:
    return {row["title"]: row for row in await stored_tasks(database_url)}


# ----------------------------------------------------------------- the cache and a write


async def test_a_read_between_the_cache_bump_and_the_commit_leaves_nothing_stale(
    service: TaskService,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The write bumps the cache's generation after its commit. If it bumped first, a read
    landing between the two would cache the old row under the new generation, and serve
    it after the write had returned, until the TTL."""
    task = await service.create(TaskCreate(title="old title"))
    cache = service.cache
    bump = cache.invalidate
    read_in_between: list[TaskRead] = []

    async def bump_then_someone_reads(scopes: Iterable[str]) -> None:
        await bump(scopes)
        async with another_service(sessions, cache, service.caller) as reader:
            read_in_between.append(await reader.get(task.id))

    monkeypatch.setattr(cache, "invalidate", bump_then_someone_reads)
    await service.update(task.id, TaskUpdate(title="new title"))
    monkeypatch.setattr(cache, "invalidate", bump)

    assert len(read_in_between) == 1
    async with another_service(sessions, cache, service.caller) as reader:
        assert (await reader.get(task.id)).title == "new title"
        page = await reader.list_tasks(TaskQuery())
        assert [t.title for t in page.items] == ["new title"]


async def test_a_read_that_loaded_before_a_write_and_stored_after_it_is_never_served(
    service: TaskService,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slow read: looked up, loaded the old row, and stores it only after a write has
    committed and bumped. It stores under the generation it looked up at, which the
    write retired: the next read misses and sees the write."""
    task = await service.create(TaskCreate(title="before"))
    cache = service.cache
    store = cache.store
    gate = Gate()

    async def store_late(scope: str, key: str, generation: str | None, value: bytes) -> None:
        await gate.stop_here()
        await store(scope, key, generation, value)

    monkeypatch.setattr(cache, "store", store_late)
    async with another_service(sessions, cache, service.caller) as reader:
        slow_read = asyncio.create_task(reader.get(task.id))
        await gate.wait_until_reached()
        monkeypatch.setattr(cache, "store", store)
        async with another_service(sessions, cache, service.caller) as writer:
            await writer.update(task.id, TaskUpdate(title="after"))
        gate.open()
        assert (await slow_read).title == "before"  # it started before the write

    async with another_service(sessions, cache, service.caller) as reader:
        assert (await reader.get(task.id)).title == "after"


# ----------------------------------------------------------------- bulk changes and rows


async def test_complete_all_racing_a_create_and_a_delete_counts_what_it_changed(
    service: TaskService,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    for number in range(5):
        await service.create(TaskCreate(title=f"existing {number}"))
    doomed = await service.create(TaskCreate(title="doomed"))
    cache = service.cache

    async def complete_all() -> int:
        async with another_service(sessions, cache, service.caller) as other:
            return await other.complete_all()

    async def create() -> TaskRead:
        async with another_service(sessions, cache, service.caller) as other:
            return await other.create(TaskCreate(title="newcomer"))

    async def delete() -> TaskRead:
        async with another_service(sessions, cache, service.caller) as other:
            return await other.delete(doomed.id)

    completed, newcomer, _ = await asyncio.gather(complete_all(), create(), delete())

    rows = await titles(database_url)
    live_completed = [
        title for title, row in rows.items() if row["completed_at"] and not row["deleted_at"]
    ]
    # Each of the others happened wholly before or wholly after complete-all; its count is
    # exactly the rows it completed, which are completed now.
    completed_by_it = {
        title
        for title, row in rows.items()
        if row["completed_at"] is not None and row["version"] == (3 if title == "doomed" else 2)
    }
    assert completed == len(completed_by_it)
    assert {f"existing {n}" for n in range(5)} <= set(live_completed)
    assert rows["doomed"]["deleted_at"] is not None
    assert newcomer.title in rows


async def test_clear_completed_racing_a_reopen(
    service: TaskService,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    """The reopen reads the completed task; clear-completed moves it to the trash before
    the reopen writes. The reopen is retried on the row as it now is, which is in the
    trash: not found. Nothing is reopened in the trash, and the count is the rows moved."""
    task = await service.create(TaskCreate(title="done thing"))
    await service.complete(task.id)
    other_done = await service.create(TaskCreate(title="also done"))
    await service.complete(other_done.id)
    cache = service.cache
    gate = Gate()

    async with another_service(sessions, cache, service.caller) as reopener:
        stop_after_load(monkeypatch, reopener, gate)
        reopen = asyncio.create_task(reopener.reopen(task.id))
        await gate.wait_until_reached()
        async with another_service(sessions, cache, service.caller) as clearer:
            moved = await clearer.clear_completed()
        gate.open()
        with pytest.raises(NotFound):
            await reopen

    rows = await titles(database_url)
    assert moved == 2
    assert rows["done thing"]["deleted_at"] is not None
    assert rows["done thing"]["completed_at"] is not None  # not reopened behind the trash
    assert sum(row["deleted_at"] is not None for row in rows.values()) == moved


async def test_a_reopen_that_wins_the_race_is_not_cleared(
    service: TaskService,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    task = await service.create(TaskCreate(title="done thing"))
    await service.complete(task.id)
    cache = service.cache
    async with another_service(sessions, cache, service.caller) as reopener:
        await reopener.reopen(task.id)
    async with another_service(sessions, cache, service.caller) as clearer:
        moved = await clearer.clear_completed()
    rows = await titles(database_url)
    assert moved == 0
    assert (rows["done thing"]["deleted_at"], rows["done thing"]["completed_at"]) == (None, None)


async def test_empty_trash_racing_a_restore(
    service: TaskService,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    """The restore reads the trashed task; the trash is emptied before the restore writes:
    the task is gone, and the restore says so instead of bringing back a purged task."""
    task = await service.delete((await service.create(TaskCreate(title="goner"))).id)
    await service.delete((await service.create(TaskCreate(title="other goner"))).id)
    cache = service.cache
    gate = Gate()

    async with another_service(sessions, cache, service.caller) as restorer:
        stop_after_load(monkeypatch, restorer, gate)
        restore = asyncio.create_task(restorer.restore(task.id))
        await gate.wait_until_reached()
        async with another_service(sessions, cache, service.caller) as emptier:
            purged = await emptier.empty_trash()
        gate.open()
        with pytest.raises(NotFound):
            await restore

    assert purged == 2
    assert await stored_tasks(database_url) == []


async def test_a_restore_that_wins_the_race_is_not_purged(
    service: TaskService,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    task = await service.delete((await service.create(TaskCreate(title="saved"))).id)
    await service.delete((await service.create(TaskCreate(title="goner"))).id)
    cache = service.cache

    async def restore() -> TaskRead:
        async with another_service(sessions, cache, service.caller) as restorer:
            return await restorer.restore(task.id)

    async def empty() -> int:
        async with another_service(sessions, cache, service.caller) as emptier:
            return await emptier.empty_trash()

    # Both at once, in either order of arrival: whoever commits first decides.
    restored, purged = await asyncio.gather(restore(), empty(), return_exceptions=True)
    rows = await titles(database_url)
    assert "goner" not in rows
    if isinstance(restored, TaskRead):  # the restore came first
        assert rows["saved"]["deleted_at"] is None
        assert purged == 1
    else:  # the purge came first: the restore found nothing to restore
        assert isinstance(restored, NotFound)
        assert "saved" not in rows
        assert purged == 2


# ----------------------------------------------------------------- a job and single writes


@pytest.mark.parametrize("everything", [False, True], ids=["selected", "all"])
async def test_a_bulk_restore_racing_single_restores_and_purges(
    service: TaskService,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    everything: bool,
) -> None:
    """Between two batches of a restore job, someone restores one of its tasks and purges
    another. Every task is restored once at most, and the job's counts add up to what it
    touched: the restored one and the purged one are skipped, not counted."""
    trashed = []
    for number in range(6):
        task = await service.create(TaskCreate(title=f"task {number}"))
        trashed.append(await service.delete(task.id))
    request = (
        RestoreJobCreate(all=True) if everything else RestoreJobCreate(ids=[t.id for t in trashed])
    )
    job = await RestoreJobService(session, service.cache, service.caller).create(request)
    gate = Gate()

    class BetweenBatches(MemoryReadCache):
        calls = 0

        async def invalidate(self, scopes: Iterable[str]) -> None:
            await super().invalidate(scopes)
            BetweenBatches.calls += 1
            if BetweenBatches.calls == 1:
                await gate.stop_here()

    async def deliver() -> Any:
        async with sessions() as worker_session:
            settings = make_settings("sqlite://", restore_batch_size=2)
            context = JobContext(worker_session, BetweenBatches(ttl_seconds=60), settings)
            return await runner.run(context, RESTORE, job.id)

    delivery = asyncio.create_task(deliver())
    await gate.wait_until_reached()
    rows = {row["id"]: row for row in await stored_tasks(database_url)}
    still_trashed = [t for t in trashed if rows[t.id]["deleted_at"] is not None]
    by_hand, purged = still_trashed[0], still_trashed[1]
    async with another_service(sessions, service.cache, service.caller) as someone:
        await someone.restore(by_hand.id)
        await someone.purge(purged.id)
    gate.open()
    finished = await delivery

    rows = {row["id"]: row for row in await stored_tasks(database_url)}
    assert purged.id not in rows
    assert all(row["deleted_at"] is None for row in rows.values())
    # created (1), deleted (2), restored once (3), by the job or by hand.
    assert {row["version"] for row in rows.values()} == {3}
    assert (finished.status, finished.total) == ("done", 6)
    assert (finished.done, finished.skipped) == (4, 2)


# ----------------------------------------------------------------- two writers, one task


async def test_two_processes_editing_one_version_exactly_one_wins(
    service: TaskService,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    """Both read version 1 and send it back with their edit: exactly one is applied, the
    other is refused with the version it lost to; nothing is merged."""
    task = await service.create(TaskCreate(title="shared"))
    first_cache, second_cache = MemoryReadCache(ttl_seconds=60), MemoryReadCache(ttl_seconds=60)

    async def edit(cache: ReadCache, title: str) -> TaskRead | StaleVersion:
        async with another_service(sessions, cache, service.caller) as process:
            try:
                return await process.update(task.id, TaskUpdate(title=title, version=task.version))
            except StaleVersion as refused:
                return refused

    results = await asyncio.gather(edit(first_cache, "mine"), edit(second_cache, "theirs"))

    winners = [r for r in results if isinstance(r, TaskRead)]
    losers = [r for r in results if isinstance(r, StaleVersion)]
    assert (len(winners), len(losers)) == (1, 1)
    assert losers[0].current_version == 2
    [row] = await stored_tasks(database_url)
    assert (row["title"], row["version"]) == (winners[0].title, 2)


async def test_two_processes_editing_without_versions_both_apply(
    service: TaskService,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Neither named a version: the one that loses the race re-applies its change on top
    of the winner's, so both changes are in the row."""
    task = await service.create(TaskCreate(title="shared"))
    gate = Gate()
    async with another_service(sessions, MemoryReadCache(ttl_seconds=60), service.caller) as slow:
        stop_after_load(monkeypatch, slow, gate)
        slow_edit = asyncio.create_task(slow.update(task.id, TaskUpdate(notes="slow notes")))
        await gate.wait_until_reached()
        async with another_service(
            sessions, MemoryReadCache(ttl_seconds=60), service.caller
        ) as fast:
            await fast.update(task.id, TaskUpdate(title="fast title"))
        gate.open()
        await slow_edit

    [row] = await stored_tasks(database_url)
    assert (row["title"], row["notes"], row["version"]) == ("fast title", "slow notes", 3)
