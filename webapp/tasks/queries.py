"""The SQL behind task reads: what a `TaskQuery` selects, in which order, one page at a time.

The service decides what may be read and caches it; this module only turns a query into
statements on a session. Every statement is scoped by construction: each function takes
the owner whose tasks it reads, and `owned_by` is the first condition of every WHERE.
`filters` is the one definition of which tasks a list shows: the page's rows, its total
and `is_listed` (does the list show this task now?) all use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    """The tasks of one account: what any of its reads and writes may touch."""
    return Task.owner_id == owner


def filters(owner: UUID, query: TaskQuery) -> list[ColumnElement[bool]]:
    """Which of the owner's tasks the list `query` describes: live or trashed, status,
    search."""
    where: list[ColumnElement[bool]] = [
        owned_by(owner),
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


async def load_task(session: AsyncSession, owner: UUID, task_id: UUID) -> TaskRead | None:
    statement = select(*READ_COLUMNS).where(owned_by(owner), Task.id == task_id)
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else to_read(row)


async def load_for_change(session: AsyncSession, owner: UUID, task_id: UUID) -> Task | None:
    """The owner's task as a mapped object, as stored now (to change it)."""
    statement = (
        select(Task)
        .where(owned_by(owner), Task.id == task_id)
        .execution_options(populate_existing=True)
    )
    return await session.scalar(statement)


async def is_listed(session: AsyncSession, owner: UUID, task_id: UUID, query: TaskQuery) -> bool:
    """Whether the list `query` describes shows the task now (any page of it)."""
    statement = select(exists().where(Task.id == task_id, *filters(owner, query)))
    return bool(await session.scalar(statement))


async def count(session: AsyncSession, where: Sequence[ColumnElement[bool]]) -> int:
    total = await session.scalar(select(func.count()).select_from(Task).where(*where))
    return int(total or 0)


async def load_counts(session: AsyncSession, owner: UUID) -> TaskCounts:
    """Active, completed and trashed tasks, in one scan of the owner's part of the state
    index."""
    live = Task.deleted_at.is_(None)
    row = (
        await session.execute(
            select(
                func.count(case((and_(live, Task.completed_at.is_(None)), 1))),
                func.count(case((and_(live, Task.completed_at.is_not(None)), 1))),
                func.count(case((Task.deleted_at.is_not(None), 1))),
            ).where(owned_by(owner))
        )
    ).one()
    return TaskCounts(active=row[0], completed=row[1], trash=row[2])


async def _rows(
    session: AsyncSession,
    where: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any],
    limit: int,
    offset: int,
) -> list[TaskRead]:
    statement = select(*READ_COLUMNS).where(*where).order_by(*order_by).limit(limit).offset(offset)
    return [to_read(row) for row in await session.execute(statement)]


async def load_page(session: AsyncSession, owner: UUID, query: TaskQuery) -> TaskPage:
    """One page of the list `query` describes, and how many tasks it holds in all."""
    where = filters(owner, query)
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
