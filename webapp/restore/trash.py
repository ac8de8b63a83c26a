"""The trash as a restore job walks it: counted, checked and restored in keyset batches.

Restore jobs alone use these statements, each within a scope: the tasks its account may
restore (`webapp.tasks.queries.restorable`). None of them commits: a job commits each
batch together with its progress, then publishes the change itself.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import ColumnElement, and_, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.clock import utcnow
from webapp.lists.models import TaskList
from webapp.tasks.models import Task
from webapp.tasks.queries import count


class TrashCursor(NamedTuple):
    """A place in the trash's (deleted_at, id) order: where a restore job's batch ends."""

    deleted_at: datetime.datetime
    task_id: UUID


# Many tasks can share one deleted_at (Clear completed trashes them together), so a batch
# must be bounded on (deleted_at, id) in the index, not on deleted_at alone, or every batch
# would scan all the tasks sharing a time. SQLite ranges on a row value; MySQL/MariaDB do
# not (they scan), so for them the comparison is spelt out and the index named: their
# planner may otherwise range on another index that starts with deleted_at only.
_TRASH_INDEX_HINT = "FORCE INDEX (ix_task_trash)"


_INBOX_OF_OWNER = (
    select(TaskList.id)
    .where(TaskList.owner_id == Task.owner_id, TaskList.is_inbox.is_(True))
    .scalar_subquery()
)


def _is_mysql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name in {"mysql", "mariadb"}


def _beyond(cursor: TrashCursor | None, *, mysql: bool) -> list[ColumnElement[bool]]:
    """Tasks placed after `cursor` in the trash's (deleted_at, id) order."""
    if cursor is None:
        return []
    if not mysql:
        return [tuple_(Task.deleted_at, Task.id) > (cursor.deleted_at, cursor.task_id)]
    return [
        or_(
            Task.deleted_at > cursor.deleted_at,
            and_(Task.deleted_at == cursor.deleted_at, Task.id > cursor.task_id),
        )
    ]


def _up_to(cursor: TrashCursor, *, mysql: bool) -> ColumnElement[bool]:
    """Tasks placed at or before `cursor` in the trash's (deleted_at, id) order."""
    if not mysql:
        return tuple_(Task.deleted_at, Task.id) <= (cursor.deleted_at, cursor.task_id)
    return or_(
        Task.deleted_at < cursor.deleted_at,
        and_(Task.deleted_at == cursor.deleted_at, Task.id <= cursor.task_id),
    )


def _trashed_by(
    scope: ColumnElement[bool], deleted_before: datetime.datetime
) -> tuple[ColumnElement[bool], ...]:
    return (scope, Task.deleted_at.is_not(None), Task.deleted_at <= deleted_before)


async def trash_size(
    session: AsyncSession, scope: ColumnElement[bool], *, deleted_before: datetime.datetime
) -> int:
    """How many tasks of `scope` in the trash were deleted at or before `deleted_before`."""
    return await count(session, _trashed_by(scope, deleted_before))


async def in_trash(
    session: AsyncSession, scope: ColumnElement[bool], ids: Sequence[UUID]
) -> set[UUID]:
    """Which of `ids` are tasks of `scope` in the trash now."""
    found: set[UUID] = set()
    # Chunked so that no statement carries more bound values than a database accepts.
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        rows = await session.scalars(
            select(Task.id).where(scope, Task.id.in_(chunk), Task.deleted_at.is_not(None))
        )
        found.update(rows)
    return found


async def trash_cursor(
    session: AsyncSession,
    scope: ColumnElement[bool],
    *,
    deleted_before: datetime.datetime,
    after: TrashCursor | None,
    offset: int,
) -> TrashCursor | None:
    """The place of the `offset`-th task (from 0) of the trash within `scope` deleted
    at or before `deleted_before`, counting after `after`; None when fewer tasks are left.

    With `restore_batch(after=..., through=...)` it walks the trash in batches by keyset
    on the (deleted_at, id) index: each batch seeks straight to where the last one
    stopped, over whatever the database has not yet cleaned up behind it.
    """
    mysql = _is_mysql(session)
    row = (
        await session.execute(
            select(Task.deleted_at, Task.id)
            .where(*_trashed_by(scope, deleted_before), *_beyond(after, mysql=mysql))
            .order_by(Task.deleted_at, Task.id)
            .offset(offset)
            .limit(1)
            .with_hint(Task, _TRASH_INDEX_HINT, "mysql")
        )
    ).one_or_none()
    return None if row is None else TrashCursor(row.deleted_at, row.id)


async def restore_batch(
    session: AsyncSession,
    scope: ColumnElement[bool],
    *,
    deleted_before: datetime.datetime,
    ids: Sequence[UUID] | None = None,
    after: TrashCursor | None = None,
    through: TrashCursor | None = None,
) -> int:
    """Restore, in one UPDATE, tasks of `scope` in the trash deleted at or before
    `deleted_before`:
    those among `ids`, or else those placed after `after` up to `through` (included) in
    the trash's (deleted_at, id) order. Returns how many were restored.

    Tasks deleted later, and tasks not in the trash, are left alone, so running a batch
    twice restores nothing twice.
    """
    mysql = _is_mysql(session)
    if through is None:
        where = [*_trashed_by(scope, deleted_before)]
    else:
        # `through` lies at or before `deleted_before`, so it bounds the batch alone;
        # with no second upper bound, SQLite ranges on both ends of the index.
        where = [scope, Task.deleted_at.is_not(None), _up_to(through, mysql=mysql)]
    where += _beyond(after, mysql=mysql)
    if ids is not None:
        where.append(Task.id.in_(ids))
    statement = (
        update(Task)
        .where(*where)
        .values(
            deleted_at=None,
            # A task whose list was deleted meanwhile goes to its owner's Inbox.
            list_id=func.coalesce(Task.list_id, _INBOX_OF_OWNER),
            updated_at=utcnow(),
            version=Task.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if ids is None and (after is not None or through is not None):
        statement = statement.with_hint(_TRASH_INDEX_HINT, dialect_name="mysql")
    result = await session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]
