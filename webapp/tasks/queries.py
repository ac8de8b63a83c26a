"""The SQL behind task reads: what a `TaskQuery` selects, in which order, one page at a time.

The service decides what may be read and caches it; this module only turns a query into
statements on a session. Every statement is scoped by construction: each function takes
the scope (a condition from `readable`, `restorable` or `in_list`) as the first condition
of its WHERE. `filters` is the one definition of which tasks a list shows: the page's
rows, its total and `is_listed` (does the list show this task now?) all use it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.tasks.models import Priority, Task
from webapp.tasks.schemas import (
    SortKey,
    SortOrder,
    Status,
    TaskCounts,
    TaskPage,
    TaskQuery,
    TaskRead,
)

_PRIORITY_LABELS = {int(p): p.label for p in Priority}
# Selected as plain columns (not ORM entities): the list is the hot path and building
# 50 structs straight from rows costs a fraction of hydrating 50 mapped objects.
READ_COLUMNS = (
    Task.id,
    Task.list_id,
    Task.title,
    Task.notes,
    Task.priority,
    Task.due_date,
    Task.completed_at,
    Task.deleted_at,
    Task.created_at,
    Task.updated_at,
    Task.version,
)
_SORT_COLUMNS = {
    SortKey.CREATED: Task.created_at,
    SortKey.PRIORITY: Task.priority,
    SortKey.TITLE: Task.title,
    SortKey.DELETED: Task.deleted_at,
}


def to_read(row: Any) -> TaskRead:
    """A row of READ_COLUMNS (or a Task) as readers see it."""
    return TaskRead(
        id=row.id,
        list_id=row.list_id,
        title=row.title,
        notes=row.notes,
        priority=_PRIORITY_LABELS[row.priority],  # type: ignore[arg-type]
        due_date=row.due_date,
        completed_at=row.completed_at,
        deleted_at=row.deleted_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def owned_by(owner: UUID) -> ColumnElement[bool]:
    """The tasks of one account's own lists (and of its lists deleted since)."""
    return Task.owner_id == owner


def readable(account: UUID, shared: Collection[UUID]) -> ColumnElement[bool]:
    """The tasks an account may read: those of its lists and of the lists shared with it.
    Without shared lists, a condition on the owner alone, which the owner-led indexes
    serve."""
    if not shared:
        return owned_by(account)
    return or_(owned_by(account), Task.list_id.in_(sorted(shared)))


def restorable(account: UUID, edited: Collection[UUID]) -> ColumnElement[bool]:
    """The tasks an account may change, restore or purge: those of its own lists (and
    of its deleted lists) and of the lists it edits."""
    return readable(account, edited)


def in_list(list_id: UUID) -> ColumnElement[bool]:
    return Task.list_id == list_id


def filters(scope: ColumnElement[bool], query: TaskQuery) -> list[ColumnElement[bool]]:
    """Which tasks of `scope` the list `query` describes: live or trashed, status,
    search."""
    where: list[ColumnElement[bool]] = [
        scope,
        Task.deleted_at.is_not(None) if query.trash else Task.deleted_at.is_(None),
    ]
    if query.status is Status.ACTIVE:
        where.append(Task.completed_at.is_(None))
    elif query.status is Status.COMPLETED:
        where.append(Task.completed_at.is_not(None))
    if search := query.q.strip():
        # The database's collation decides what matches (case, and on MySQL accents):
        # every place that asks "does this list show the task?" asks the database.
        pattern = f"%{_escape_like(search)}%"
        where.append(
            or_(Task.title.like(pattern, escape="\\"), Task.notes.like(pattern, escape="\\"))
        )
    return where


def visible(live: ColumnElement[bool], trashed: ColumnElement[bool]) -> ColumnElement[bool]:
    """A live task within `live`, or a task in the trash within `trashed`."""
    return or_(and_(Task.deleted_at.is_(None), live), and_(Task.deleted_at.is_not(None), trashed))


async def load_task(
    session: AsyncSession, scope: ColumnElement[bool], task_id: UUID
) -> TaskRead | None:
    statement = select(*READ_COLUMNS).where(scope, Task.id == task_id)
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else to_read(row)


async def load_for_change(
    session: AsyncSession, scope: ColumnElement[bool], task_id: UUID
) -> Task | None:
    """The task as a mapped object, as stored now (to change it), if `scope` has it."""
    statement = (
        select(Task).where(scope, Task.id == task_id).execution_options(populate_existing=True)
    )
    return await session.scalar(statement)


async def is_listed(
    session: AsyncSession, scope: ColumnElement[bool], task_id: UUID, query: TaskQuery
) -> bool:
    """Whether the list `query` describes shows the task now (any page of it)."""
    statement = select(exists().where(Task.id == task_id, *filters(scope, query)))
    return bool(await session.scalar(statement))


async def count(session: AsyncSession, where: Sequence[ColumnElement[bool]]) -> int:
    total = await session.scalar(select(func.count()).select_from(Task).where(*where))
    return int(total or 0)


async def load_counts(
    session: AsyncSession, live: ColumnElement[bool], trashed: ColumnElement[bool]
) -> TaskCounts:
    """Active and completed tasks within `live`, tasks in the trash within `trashed`:
    each a scan of the state index's part of one scope."""
    row = (
        await session.execute(
            select(
                func.count(case((Task.completed_at.is_(None), 1))),
                func.count(case((Task.completed_at.is_not(None), 1))),
            ).where(live, Task.deleted_at.is_(None))
        )
    ).one()
    trash = await count(session, [trashed, Task.deleted_at.is_not(None)])
    return TaskCounts(active=row[0], completed=row[1], trash=trash)


async def _rows(
    session: AsyncSession,
    where: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any],
    limit: int,
    offset: int,
) -> list[TaskRead]:
    statement = select(*READ_COLUMNS).where(*where).order_by(*order_by).limit(limit).offset(offset)
    return [to_read(row) for row in await session.execute(statement)]


async def load_page(
    session: AsyncSession, scope: ColumnElement[bool], query: TaskQuery
) -> TaskPage:
    """One page of the list `query` describes within `scope`, and how many tasks it
    holds in all."""
    where = filters(scope, query)
    total = await count(session, where)
    descending = query.order is SortOrder.DESC

    def ordered(*columns: Any) -> list[Any]:
        return [c.desc() if descending else c.asc() for c in columns]

    if query.sort is SortKey.DUE:
        items = await _load_due_page(session, query, where, ordered)
    else:
        order_by = ordered(_SORT_COLUMNS[query.sort], Task.id)
        items = await _rows(session, where, order_by, query.limit, query.offset)
    return TaskPage(items=items, total=total, limit=query.limit, offset=query.offset)


async def _load_due_page(
    session: AsyncSession,
    query: TaskQuery,
    where: list[ColumnElement[bool]],
    ordered: Callable[..., list[Any]],
) -> list[TaskRead]:
    # Tasks without a due date come last in both directions, as people expect. An
    # ORDER BY on `due_date IS NULL` would defeat the index, so the page is read as two
    # index-ordered slices: dated tasks, then undated ones.
    dated = [*where, Task.due_date.is_not(None)]
    dated_total = await count(session, dated)
    items: list[TaskRead] = []
    if query.offset < dated_total:
        items = await _rows(
            session, dated, ordered(Task.due_date, Task.id), query.limit, query.offset
        )
    if len(items) < query.limit:
        items += await _rows(
            session,
            [*where, Task.due_date.is_(None)],
            ordered(Task.id),
            query.limit - len(items),
            max(0, query.offset - dated_total),
        )
    return items
