"""TaskService: the task rules, checked against what the database holds (SQLite and MariaDB)."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.stored import stored_tasks
from webapp.cache import ReadCache
from webapp.errors import Conflict, InvalidInput, NotFound, StaleVersion
from webapp.tasks.models import Task
from webapp.tasks.schemas import (
    PriorityLabel,
    SortKey,
    SortOrder,
    Status,
    TaskCounts,
    TaskCreate,
    TaskQuery,
    TaskRead,
    TaskUpdate,
)
from webapp.tasks.service import TaskService

UTC = datetime.UTC
JAN_1 = datetime.datetime(2026, 1, 1, tzinfo=UTC)


async def add(
    service: TaskService,
    title: str,
    *,
    notes: str = "",
    priority: PriorityLabel = "none",
    due: datetime.date | None = None,
) -> TaskRead:
    return await service.create(
        TaskCreate(title=title, notes=notes, priority=priority, due_date=due)
    )


async def force(session: AsyncSession, cache: ReadCache, task_id: UUID, **values: Any) -> None:
    """Set columns behind the service's back (e.g. a creation time), as a past would have."""
    await session.execute(update(Task).where(Task.id == task_id).values(**values))
    await session.commit()
    await cache.invalidate_all()


async def titles(service: TaskService, **query: Any) -> list[str]:
    page = await service.list_tasks(TaskQuery(**query))
    return [task.title for task in page.items]


def by_id(rows: list[dict[str, Any]]) -> dict[UUID, dict[str, Any]]:
    return {row["id"]: row for row in rows}


# ------------------------------------------------------------------------------ create


async def test_create_trims_the_title_and_stores_the_task(
    service: TaskService, database_url: str
) -> None:
    task = await add(
        service,
        "  Buy milk \n",
        notes="Semi-skimmed",
        priority="high",
        due=datetime.date(2026, 5, 1),
    )

    assert task.title == "Buy milk"
    assert (task.priority, task.version, task.completed_at, task.deleted_at) == (
        "high",
        1,
        None,
        None,
    )
    [row] = await stored_tasks(database_url)
    assert row["id"] == task.id
    assert row["title"] == "Buy milk"
    assert row["notes"] == "Semi-skimmed"
    assert row["priority"] == 3
    assert row["due_date"] == datetime.date(2026, 5, 1)
    assert row["completed_at"] is None
    assert row["deleted_at"] is None
    assert row["version"] == 1


async def test_create_ids_are_uuid7(service: TaskService) -> None:
    first, second = await add(service, "a"), await add(service, "b")
    assert first.id.version == 7
    assert second.id.version == 7
    assert first.id != second.id


async def test_create_accepts_the_longest_title_and_notes(
    service: TaskService, database_url: str
) -> None:
    await add(service, "t" * 200, notes="n" * 10_000)
    [row] = await stored_tasks(database_url)
    assert (len(row["title"]), len(row["notes"])) == (200, 10_000)


async def test_create_keeps_unicode(service: TaskService, database_url: str) -> None:
    await add(service, "Café ☕ 🍰 — naïve", notes="日本語")
    [row] = await stored_tasks(database_url)
    assert (row["title"], row["notes"]) == ("Café ☕ 🍰 — naïve", "日本語")


@pytest.mark.parametrize(
    ("title", "notes", "fields"),
    [
        ("", "", {"title"}),
        ("   \t\n ", "", {"title"}),
        ("t" * 201, "", {"title"}),
        (" " + "t" * 201 + " ", "", {"title"}),
        ("ok", "n" * 10_001, {"notes"}),
        ("", "n" * 10_001, {"title", "notes"}),
    ],
    ids=["empty", "whitespace", "201-chars", "201-chars-trimmed", "long-notes", "both"],
)
async def test_create_refuses_bad_fields_and_stores_nothing(
    service: TaskService, database_url: str, title: str, notes: str, fields: set[str]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await add(service, title, notes=notes)
    assert set(refused.value.errors) == fields
    assert await stored_tasks(database_url) == []


@pytest.mark.parametrize(
    ("title", "notes", "field"),
    [
        ("\u200b", "", "title"),
        ("\u200c\u200d\u2060\ufeff", "", "title"),
        (" \u200b \ufeff ", "", "title"),
        ("nul\x00inside", "", "title"),
        ("bell\x07", "", "title"),
        ("two\nlines", "", "title"),
        ("tab\there", "", "title"),
        ("ok", "nul\x00inside", "notes"),
        ("ok", "escape \x1b[31m", "notes"),
        ("ok", "del\x7f", "notes"),
    ],
    ids=[
        "zwsp",
        "only-invisible",
        "invisible-and-spaces",
        "nul-title",
        "bell-title",
        "newline-title",
        "tab-title",
        "nul-notes",
        "escape-notes",
        "del-notes",
    ],
)
async def test_invisible_titles_and_control_characters_are_refused(
    service: TaskService, database_url: str, title: str, notes: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await add(service, title, notes=notes)
    assert set(refused.value.errors) == {field}
    assert await stored_tasks(database_url) == []


async def test_notes_keep_line_breaks_and_tabs_and_titles_keep_joiners(
    service: TaskService, database_url: str
) -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467 trip"  # ZWJ inside an emoji
    task = await add(service, family, notes="line one\nline two\r\n\tindented")
    [row] = await stored_tasks(database_url)
    assert (row["title"], row["notes"]) == (family, "line one\nline two\r\n\tindented")
    assert task.title == family


# ------------------------------------------------------------------------------ get


async def test_get_finds_a_live_task_where_asked(service: TaskService) -> None:
    task = await add(service, "live")
    assert await service.get(task.id) == task
    assert await service.get(task.id, where="any") == task
    # The same answer as a purge of a live task (409 in the API): it exists, elsewhere.
    with pytest.raises(Conflict):
        await service.get(task.id, where="trash")


async def test_get_of_a_trashed_task_is_not_found_on_live_reads(service: TaskService) -> None:
    task = await add(service, "gone")
    await service.delete(task.id)
    with pytest.raises(NotFound):
        await service.get(task.id)
    assert (await service.get(task.id, where="trash")).deleted_at is not None
    assert (await service.get(task.id, where="any")).title == "gone"


async def test_get_of_an_unknown_id_is_not_found(service: TaskService) -> None:
    with pytest.raises(NotFound):
        await service.get(UUID("01890000-0000-7000-8000-000000000000"))


async def test_a_read_after_a_write_sees_the_write(service: TaskService) -> None:
    task = await add(service, "before")
    assert await titles(service) == ["before"]
    assert (await service.get(task.id)).title == "before"
    await service.update(task.id, TaskUpdate(title="after"))
    assert await titles(service) == ["after"]
    assert (await service.get(task.id)).title == "after"
    await service.delete(task.id)
    assert await titles(service) == []
    assert await titles(service, trash=True) == ["after"]


# ------------------------------------------------------------------------------ list


async def test_list_filters_by_status(service: TaskService) -> None:
    await add(service, "active")
    done = await add(service, "done")
    await service.complete(done.id)
    trashed = await add(service, "trashed")
    await service.delete(trashed.id)

    assert sorted(await titles(service)) == ["active", "done"]
    assert await titles(service, status=Status.ACTIVE) == ["active"]
    assert await titles(service, status=Status.COMPLETED) == ["done"]
    assert await titles(service, trash=True) == ["trashed"]


async def test_list_trash_filters_by_status_too(service: TaskService) -> None:
    done = await add(service, "done then trashed")
    await service.complete(done.id)
    await service.delete(done.id)
    active = await add(service, "trashed while active")
    await service.delete(active.id)

    assert await titles(service, trash=True, status=Status.COMPLETED) == ["done then trashed"]
    assert await titles(service, trash=True, status=Status.ACTIVE) == ["trashed while active"]


async def test_search_looks_in_titles_and_notes_ignoring_case(service: TaskService) -> None:
    await add(service, "Buy MILK")
    await add(service, "Groceries", notes="eggs, milk, bread")
    await add(service, "Call mum")

    assert sorted(await titles(service, q="milk")) == ["Buy MILK", "Groceries"]
    assert await titles(service, q="  mum  ") == ["Call mum"]
    assert await titles(service, q="nothing like it") == []
    assert len(await titles(service, q="   ")) == 3


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("%", ["100% done"]),
        ("0%", ["100% done"]),
        ("_", ["snake_case"]),
        ("e_c", ["snake_case"]),
        ("\\", ["C:\\temp\\new"]),
        ("p\\n", ["C:\\temp\\new"]),
    ],
)
async def test_search_takes_like_wildcards_literally(
    service: TaskService, q: str, expected: list[str]
) -> None:
    for title in ["100% done", "1000 done", "snake_case", "snakeXcase", "C:\\temp\\new", "pn"]:
        await add(service, title)
    assert await titles(service, q=q) == expected


NON_ASCII_TITLES = ["Crème brûlée", "CRÈME fraîche", "Straße", "STRASSE", "Ünïcödé", "日本語のメモ"]


@pytest.mark.parametrize("q", ["crème", "CRÈME", "creme", "ß", "strasse", "ünï", "日本", "e", "É"])
@pytest.mark.parametrize("status", list(Status))
async def test_is_listed_agrees_with_the_list_on_every_task(
    service: TaskService, q: str, status: Status
) -> None:
    """The pages ask `is_listed` whether a changed task's row stays on screen: it must
    give the list's own answer, whatever the database's collation makes of the text."""
    tasks = [await add(service, title) for title in NON_ASCII_TITLES]
    await service.complete(tasks[0].id)
    await service.complete(tasks[3].id)
    query = TaskQuery(status=status, q=q, limit=100)

    listed = {task.id for task in (await service.list_tasks(query)).items}

    for task in tasks:
        assert await service.is_listed(task, query) is (task.id in listed), task.title


async def test_search_applies_to_the_trash(service: TaskService) -> None:
    for title in ["old milk", "old bread"]:
        await service.delete((await add(service, title)).id)
    assert await titles(service, trash=True, q="milk") == ["old milk"]


async def test_list_pages_and_counts_every_match(service: TaskService) -> None:
    for number in range(7):
        await add(service, f"task {number}")

    pages = [
        await service.list_tasks(
            TaskQuery(sort=SortKey.TITLE, order=SortOrder.ASC, limit=3, offset=offset)
        )
        for offset in (0, 3, 6, 9)
    ]

    assert [[t.title for t in page.items] for page in pages] == [
        ["task 0", "task 1", "task 2"],
        ["task 3", "task 4", "task 5"],
        ["task 6"],
        [],
    ]
    assert [(p.total, p.limit, p.offset) for p in pages] == [
        (7, 3, 0),
        (7, 3, 3),
        (7, 3, 6),
        (7, 3, 9),
    ]


async def test_the_total_counts_the_filtered_set(service: TaskService) -> None:
    for number in range(4):
        task = await add(service, f"milk {number}")
        if number % 2:
            await service.complete(task.id)
    await add(service, "bread")

    page = await service.list_tasks(TaskQuery(q="milk", status=Status.COMPLETED, limit=1))
    assert page.total == 2
    assert len(page.items) == 1


@pytest.mark.parametrize(
    ("limit", "offset", "q", "field"),
    [(0, 0, "", "limit"), (101, 0, "", "limit"), (10, -1, "", "offset"), (10, 0, "q" * 201, "q")],
)
async def test_list_refuses_out_of_range_queries(
    service: TaskService, limit: int, offset: int, q: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await service.list_tasks(TaskQuery(limit=limit, offset=offset, q=q))
    assert list(refused.value.errors) == [field]


# ------------------------------------------------------------------------------ sort


@pytest.fixture
async def sortable(
    service: TaskService, session: AsyncSession, read_cache: ReadCache
) -> dict[str, TaskRead]:
    """Five tasks whose creation times, due dates, priorities and titles disagree in order.

    Created in the order a..e, so that ordering by id (the tie-break) differs from each sort.
    """
    spec: list[tuple[str, int, datetime.date | None, PriorityLabel]] = [
        ("cherry", 3, datetime.date(2026, 3, 1), "low"),
        ("Apple", 1, None, "high"),
        ("banana", 4, datetime.date(2026, 1, 1), "none"),
        ("date", 0, datetime.date(2026, 2, 1), "medium"),
        ("Elderberry", 2, None, "medium"),
    ]
    tasks: dict[str, TaskRead] = {}
    for title, hours, due, priority in spec:
        task = await add(service, title, due=due, priority=priority)
        await force(
            session, read_cache, task.id, created_at=JAN_1 + datetime.timedelta(hours=hours)
        )
        tasks[title] = task
    return tasks


@pytest.mark.parametrize(
    ("sort", "order", "expected"),
    [
        (SortKey.CREATED, SortOrder.ASC, ["date", "Apple", "Elderberry", "cherry", "banana"]),
        (SortKey.CREATED, SortOrder.DESC, ["banana", "cherry", "Elderberry", "Apple", "date"]),
        # Undated tasks come last both ways, in id order.
        (SortKey.DUE, SortOrder.ASC, ["banana", "date", "cherry", "Apple", "Elderberry"]),
        (SortKey.DUE, SortOrder.DESC, ["cherry", "date", "banana", "Elderberry", "Apple"]),
        # Ties (two mediums) are broken by id in the same direction.
        (SortKey.PRIORITY, SortOrder.ASC, ["banana", "cherry", "date", "Elderberry", "Apple"]),
        (SortKey.PRIORITY, SortOrder.DESC, ["Apple", "Elderberry", "date", "cherry", "banana"]),
        # Titles sort as people read them: case does not matter.
        (SortKey.TITLE, SortOrder.ASC, ["Apple", "banana", "cherry", "date", "Elderberry"]),
        (SortKey.TITLE, SortOrder.DESC, ["Elderberry", "date", "cherry", "banana", "Apple"]),
    ],
)
async def test_list_sorts_by_every_key(
    service: TaskService,
    sortable: dict[str, TaskRead],
    sort: SortKey,
    order: SortOrder,
    expected: list[str],
) -> None:
    assert await titles(service, sort=sort, order=order) == expected


@pytest.mark.parametrize("order", [SortOrder.ASC, SortOrder.DESC])
async def test_due_date_pages_join_dated_and_undated_tasks(
    service: TaskService, sortable: dict[str, TaskRead], order: SortOrder
) -> None:
    whole = await titles(service, sort=SortKey.DUE, order=order)
    for limit in (1, 2, 3, 4):
        pages: list[str] = []
        for offset in range(0, 6, limit):
            page = await service.list_tasks(
                TaskQuery(sort=SortKey.DUE, order=order, limit=limit, offset=offset)
            )
            assert page.total == 5
            pages += [task.title for task in page.items]
        assert pages == whole, f"limit {limit}"


@pytest.mark.parametrize(
    ("order", "expected"),
    [(SortOrder.DESC, ["Apple", "date", "cherry"]), (SortOrder.ASC, ["cherry", "date", "Apple"])],
)
async def test_trash_sorts_by_deletion_time(
    service: TaskService,
    session: AsyncSession,
    read_cache: ReadCache,
    sortable: dict[str, TaskRead],
    order: SortOrder,
    expected: list[str],
) -> None:
    for hours, title in enumerate(["cherry", "date", "Apple"]):
        await service.delete(sortable[title].id)
        await force(
            session,
            read_cache,
            sortable[title].id,
            deleted_at=JAN_1 + datetime.timedelta(days=1, hours=hours),
        )
    assert await titles(service, trash=True, sort=SortKey.DELETED, order=order) == expected


async def test_trash_shows_the_most_recently_deleted_first(service: TaskService) -> None:
    # Deleted one right after the other, in another order than created: the trash must
    # tell them apart even within one second.
    first, second, third = [await add(service, title) for title in ("first", "second", "third")]
    for task in (second, third, first):
        await service.delete(task.id)
    assert await titles(service, trash=True, sort=SortKey.DELETED) == ["first", "third", "second"]


async def test_newest_task_comes_first_by_default(service: TaskService) -> None:
    for title in ("one", "two", "three"):
        await add(service, title)
    assert await titles(service) == ["three", "two", "one"]


# ------------------------------------------------------------------------------ update


async def test_update_changes_only_the_fields_given(
    service: TaskService, database_url: str
) -> None:
    task = await add(service, "title", notes="notes", priority="low", due=datetime.date(2026, 1, 2))
    before = by_id(await stored_tasks(database_url))[task.id]

    updated = await service.update(task.id, TaskUpdate(notes="new notes"))

    after = by_id(await stored_tasks(database_url))[task.id]
    assert updated.notes == after["notes"] == "new notes"
    assert after["version"] == updated.version == 2
    assert after["updated_at"] >= before["updated_at"]
    unchanged = ("title", "priority", "due_date", "completed_at", "deleted_at", "created_at")
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}


async def test_update_sets_and_clears_every_field(service: TaskService, database_url: str) -> None:
    task = await add(service, "title", due=datetime.date(2026, 1, 2))
    updated = await service.update(
        task.id,
        TaskUpdate(title="  new  ", notes="n", priority="medium", due_date=None, completed=True),
    )
    [row] = await stored_tasks(database_url)
    assert (row["title"], row["notes"], row["priority"], row["due_date"]) == ("new", "n", 2, None)
    assert row["completed_at"] is not None
    assert updated.completed_at is not None
    assert updated.title == "new"

    await service.update(task.id, TaskUpdate(completed=False, due_date=datetime.date(2027, 1, 1)))
    [row] = await stored_tasks(database_url)
    assert row["completed_at"] is None
    assert row["due_date"] == datetime.date(2027, 1, 1)


async def test_update_that_changes_nothing_writes_nothing(
    service: TaskService, database_url: str
) -> None:
    task = await add(service, "same", priority="low")
    before = await stored_tasks(database_url)

    same = await service.update(
        task.id, TaskUpdate(title=" same ", priority="low", completed=False)
    )

    assert same.version == 1
    assert await stored_tasks(database_url) == before


async def test_update_with_the_current_version_is_applied(service: TaskService) -> None:
    task = await add(service, "v1")
    v2 = await service.update(task.id, TaskUpdate(title="v2", version=1))
    v3 = await service.update(task.id, TaskUpdate(title="v3"), expected_version=2)
    assert (v2.version, v3.version, v3.title) == (2, 3, "v3")


@pytest.mark.parametrize(
    ("changes", "expected_version"),
    [
        (TaskUpdate(title="lost", version=1), None),
        (TaskUpdate(title="lost", version=3), None),
        (TaskUpdate(title="lost"), 1),
        (TaskUpdate(title="lost", version=2), 1),
    ],
    ids=["older-in-body", "newer-in-body", "older-if-match", "if-match-disagrees"],
)
async def test_update_with_a_stale_version_is_refused_and_changes_nothing(
    service: TaskService,
    database_url: str,
    changes: TaskUpdate,
    expected_version: int | None,
) -> None:
    task = await add(service, "v1")
    await service.update(task.id, TaskUpdate(notes="someone else's edit"))
    before = await stored_tasks(database_url)

    with pytest.raises(StaleVersion) as refused:
        await service.update(task.id, changes, expected_version=expected_version)

    assert refused.value.current_version == 2
    assert await stored_tasks(database_url) == before
    assert (await service.get(task.id)).title == "v1"


async def test_two_editors_of_one_version_cannot_both_win(
    service: TaskService, session: AsyncSession, read_cache: ReadCache, database_url: str
) -> None:
    task = await add(service, "shared")
    other = TaskService(session, read_cache, service.caller)

    await other.update(task.id, TaskUpdate(title="theirs", version=task.version))
    with pytest.raises(StaleVersion):
        await service.update(task.id, TaskUpdate(title="mine", version=task.version))

    [row] = await stored_tasks(database_url)
    assert (row["title"], row["version"]) == ("theirs", 2)


def lose_the_race_once(
    monkeypatch: pytest.MonkeyPatch,
    service: TaskService,
    engine: AsyncEngine,
    read_cache: ReadCache,
    changes: TaskUpdate,
) -> None:
    """Another writer commits `changes` between this service's first read of the task
    and its write (the interleaving is forced, not left to luck)."""
    load = TaskService._load
    raced: list[bool] = []

    async def load_then_lose_the_race(self: TaskService, task_id: UUID, where: Any) -> Task:
        loaded = await load(self, task_id, where)
        if self is service and not raced:
            raced.append(True)
            async with async_sessionmaker(engine, expire_on_commit=False)() as other:
                await TaskService(other, read_cache, service.caller).update(task_id, changes)
        return loaded

    monkeypatch.setattr(TaskService, "_load", load_then_lose_the_race)


async def test_a_versioned_write_that_loses_a_race_is_refused_not_merged(
    service: TaskService,
    engine: AsyncEngine,
    read_cache: ReadCache,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    # The caller edited version 1; another process commits version 2 between this
    # update's read and its write: the write must fail, not overwrite the other change.
    task = await add(service, "original")
    lose_the_race_once(monkeypatch, service, engine, read_cache, TaskUpdate(notes="theirs"))
    with pytest.raises(StaleVersion) as refused:
        await service.update(task.id, TaskUpdate(title="mine", version=task.version))

    assert refused.value.current_version == 2
    [row] = await stored_tasks(database_url)
    assert (row["title"], row["notes"], row["version"]) == ("original", "theirs", 2)


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        ("patch", {"title": "mine", "notes": "theirs"}),
        ("complete", {"completed": True, "notes": "theirs"}),
        ("delete", {"trashed": True, "notes": "theirs"}),
    ],
)
async def test_a_write_without_a_version_that_loses_a_race_is_applied_again(
    service: TaskService,
    engine: AsyncEngine,
    read_cache: ReadCache,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    write: str,
    expected: dict[str, Any],
) -> None:
    """Without a version the caller asked for a change, not for a version: it is made on
    top of what the other writer committed, never refused with "changed by someone"."""
    task = await add(service, "original")
    lose_the_race_once(monkeypatch, service, engine, read_cache, TaskUpdate(notes="theirs"))

    if write == "patch":
        await service.update(task.id, TaskUpdate(title="mine"))
    elif write == "complete":
        await service.complete(task.id)
    else:
        await service.delete(task.id)

    [row] = await stored_tasks(database_url)
    assert row["version"] == 3
    assert row["notes"] == expected["notes"]
    if "title" in expected:
        assert row["title"] == expected["title"]
    if "completed" in expected:
        assert row["completed_at"] is not None
    if "trashed" in expected:
        assert row["deleted_at"] is not None


async def test_many_writers_without_versions_all_get_through(
    service: TaskService, engine: AsyncEngine, read_cache: ReadCache, database_url: str
) -> None:
    """Twelve processes' worth of versionless writes to one task at once: none refused."""
    task = await add(service, "contended")
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def write(number: int) -> TaskRead:
        async with sessions() as session:
            other = TaskService(session, read_cache, service.caller)
            if number % 3 == 0:
                return await other.complete(task.id)
            if number % 3 == 1:
                return await other.reopen(task.id)
            return await other.update(task.id, TaskUpdate(notes=f"note {number}"))

    results = await asyncio.gather(*(write(number) for number in range(12)))

    assert len(results) == 12
    [row] = await stored_tasks(database_url)
    assert row["notes"] in {f"note {n}" for n in range(12) if n % 3 == 2}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (TaskUpdate(title=""), "title"),
        (TaskUpdate(title="  "), "title"),
        (TaskUpdate(title="t" * 201), "title"),
        (TaskUpdate(notes="n" * 10_001), "notes"),
    ],
)
async def test_update_refuses_bad_fields_and_changes_nothing(
    service: TaskService, database_url: str, changes: TaskUpdate, field: str
) -> None:
    task = await add(service, "keep")
    before = await stored_tasks(database_url)
    with pytest.raises(InvalidInput) as refused:
        await service.update(task.id, changes)
    assert list(refused.value.errors) == [field]
    assert await stored_tasks(database_url) == before


async def test_update_of_a_trashed_or_unknown_task_is_not_found(
    service: TaskService, database_url: str
) -> None:
    task = await add(service, "trashed")
    await service.delete(task.id)
    before = await stored_tasks(database_url)
    with pytest.raises(NotFound):
        await service.update(task.id, TaskUpdate(title="x"))
    with pytest.raises(NotFound):
        await service.update(UUID(int=1), TaskUpdate(title="x"))
    assert await stored_tasks(database_url) == before


# ------------------------------------------------------------------------------ complete


async def test_complete_and_reopen_are_idempotent(service: TaskService, database_url: str) -> None:
    task = await add(service, "chore")

    done = await service.complete(task.id)
    again = await service.complete(task.id)
    assert done.completed_at is not None
    assert again.completed_at == done.completed_at
    assert again.version == done.version == 2
    [row] = await stored_tasks(database_url)
    assert row["completed_at"] is not None
    assert row["version"] == 2

    reopened = await service.reopen(task.id)
    still = await service.reopen(task.id)
    assert reopened.completed_at is None
    assert still.completed_at is None
    assert still.version == reopened.version == 3
    [row] = await stored_tasks(database_url)
    assert row["completed_at"] is None
    assert row["version"] == 3


async def test_complete_of_a_trashed_task_is_not_found(
    service: TaskService, database_url: str
) -> None:
    task = await add(service, "trashed")
    await service.delete(task.id)
    before = await stored_tasks(database_url)
    with pytest.raises(NotFound):
        await service.complete(task.id)
    with pytest.raises(NotFound):
        await service.reopen(task.id)
    assert await stored_tasks(database_url) == before


# ------------------------------------------------------------------------------ trash


async def test_delete_moves_a_task_to_the_trash(service: TaskService, database_url: str) -> None:
    task = await add(service, "to trash")
    trashed = await service.delete(task.id)
    [row] = await stored_tasks(database_url)
    assert row["deleted_at"] is not None
    assert trashed.deleted_at is not None
    assert trashed.version == row["version"] == 2
    with pytest.raises(NotFound):
        await service.delete(task.id)
    with pytest.raises(NotFound):
        await service.delete(UUID(int=2))


async def test_restore_brings_a_task_back_as_it_was(
    service: TaskService, database_url: str
) -> None:
    task = await add(service, "back", priority="high")
    done = await service.complete(task.id)
    await service.delete(task.id)

    restored = await service.restore(task.id)

    assert restored.deleted_at is None
    assert restored.completed_at == done.completed_at
    assert restored.priority == "high"
    [row] = await stored_tasks(database_url)
    assert row["deleted_at"] is None
    assert row["completed_at"] is not None
    assert await titles(service, status=Status.COMPLETED) == ["back"]


async def test_restore_of_a_live_task_returns_it_unchanged(
    service: TaskService, database_url: str
) -> None:
    task = await add(service, "live")
    before = await stored_tasks(database_url)
    assert await service.restore(task.id) == task
    assert await stored_tasks(database_url) == before


async def test_restore_of_an_unknown_task_is_not_found(service: TaskService) -> None:
    with pytest.raises(NotFound):
        await service.restore(UUID(int=3))


async def test_purge_deletes_a_trashed_task_for_ever(
    service: TaskService, database_url: str
) -> None:
    keep = await add(service, "keep")
    task = await add(service, "purge me")
    await service.delete(task.id)

    await service.purge(task.id)

    assert [row["id"] for row in await stored_tasks(database_url)] == [keep.id]
    for attempt in (service.purge, service.restore, service.get):
        with pytest.raises(NotFound):
            await attempt(task.id)


async def test_purge_of_a_live_task_is_refused_and_changes_nothing(
    service: TaskService, database_url: str
) -> None:
    task = await add(service, "live")
    before = await stored_tasks(database_url)
    with pytest.raises(Conflict) as refused:
        await service.purge(task.id)
    assert not isinstance(refused.value, StaleVersion)
    assert await stored_tasks(database_url) == before


async def test_purge_of_an_unknown_task_is_not_found(service: TaskService) -> None:
    with pytest.raises(NotFound):
        await service.purge(UUID(int=4))


# ------------------------------------------------------------------------------ bulk


@pytest.fixture
async def mixed(service: TaskService) -> dict[str, TaskRead]:
    """Two active, two completed and one trashed (completed) task."""
    tasks = {title: await add(service, title) for title in ("a1", "a2", "c1", "c2", "t1")}
    for title in ("c1", "c2", "t1"):
        await service.complete(tasks[title].id)
    await service.delete(tasks["t1"].id)
    return tasks


async def test_counts(service: TaskService, mixed: dict[str, TaskRead]) -> None:
    assert await service.counts() == TaskCounts(active=2, completed=2, trash=1)


async def test_counts_of_nothing(service: TaskService) -> None:
    assert await service.counts() == TaskCounts(active=0, completed=0, trash=0)


async def test_empty_trash_purges_only_the_trash(
    service: TaskService, mixed: dict[str, TaskRead], database_url: str
) -> None:
    assert await service.empty_trash() == 1
    rows = await stored_tasks(database_url)
    assert sorted(row["title"] for row in rows) == ["a1", "a2", "c1", "c2"]
    assert await service.empty_trash() == 0
    assert await service.counts() == TaskCounts(active=2, completed=2, trash=0)


async def test_clear_completed_moves_completed_tasks_to_the_trash(
    service: TaskService, mixed: dict[str, TaskRead], database_url: str
) -> None:
    trashed_before = by_id(await stored_tasks(database_url))[mixed["t1"].id]

    assert await service.clear_completed() == 2

    assert sorted(await titles(service)) == ["a1", "a2"]
    assert sorted(await titles(service, trash=True)) == ["c1", "c2", "t1"]
    rows = by_id(await stored_tasks(database_url))
    assert all(rows[mixed[t].id]["version"] == 3 for t in ("c1", "c2"))
    assert rows[mixed["t1"].id] == trashed_before
    assert await service.clear_completed() == 0


async def test_complete_all_and_reopen_all_touch_only_live_tasks(
    service: TaskService, mixed: dict[str, TaskRead], database_url: str
) -> None:
    trashed_before = by_id(await stored_tasks(database_url))[mixed["t1"].id]

    assert await service.complete_all() == 2
    assert await service.counts() == TaskCounts(active=0, completed=4, trash=1)
    assert await service.complete_all() == 0

    assert await service.reopen_all() == 4
    assert await service.counts() == TaskCounts(active=4, completed=0, trash=1)
    assert await service.reopen_all() == 0

    rows = by_id(await stored_tasks(database_url))
    assert rows[mixed["t1"].id] == trashed_before
    assert all(rows[mixed[t].id]["completed_at"] is None for t in ("a1", "a2", "c1", "c2"))


async def test_bulk_changes_bump_versions_so_stale_edits_are_refused(
    service: TaskService, mixed: dict[str, TaskRead]
) -> None:
    await service.complete_all()
    with pytest.raises(StaleVersion):
        await service.update(mixed["a1"].id, TaskUpdate(title="x", version=1))
