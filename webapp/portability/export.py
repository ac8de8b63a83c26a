"""Exports: what the caller owns (its lists and their tasks, and, as an option, its
trash) as JSON, CSV or iCalendar, streamed.

The export is planned in the request (`ExportService.plan`: the lists, with the caller's
rights checked, so that a stranger's list is a 404 before anything is sent) and written
by `chunks`, an async generator that reads the tasks a batch at a time (keyset on the
task's id) on a session of its own, each batch in a short transaction, and yields each
batch's bytes from the format's writer: memory holds one batch whatever the account's
size. One list the caller may read can be exported alone (`list_id`); with none, every
list the caller owns.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from litestar.response import Stream
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from webapp.accounts.caller import Caller
from webapp.clock import utcnow
from webapp.lists import access
from webapp.lists.models import TaskList
from webapp.portability.schemas import ExportFormat
from webapp.tasks.models import Priority, Task
from webapp.transfer.csv_format import CsvExportWriter
from webapp.transfer.ics_format import IcsExportWriter
from webapp.transfer.json_format import JsonExportWriter
from webapp.transfer.records import UTC, ListRecord, TaskRecord

EXPORT_BATCH_SIZE: Final = 1000
# Litestar adds "; charset=utf-8" to text/ types itself (written here too, it was sent
# twice).
MEDIA_TYPES: Final[dict[str, str]] = {
    "json": "application/json",
    "csv": "text/csv",
    "ics": "text/calendar",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """What an export holds: the lists (id → record), one list alone or all the
    caller's, the trash or not, and the file's name."""

    format: ExportFormat
    owner: UUID
    lists: dict[UUID, ListRecord]
    single: UUID | None
    trash: bool
    exported_at: datetime.datetime

    @property
    def filename(self) -> str:
        date = self.exported_at.date().isoformat()
        if self.single is not None:
            name = _UNSAFE.sub("-", self.lists[self.single].name).strip("-.")[:60] or "list"
            return f"tasks-{name}-{date}.{self.format}"
        return f"tasks-{date}.{self.format}"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def which(self) -> ColumnElement[bool]:
        """The tasks this export holds."""
        live = and_(Task.list_id.in_(list(self.lists)), Task.deleted_at.is_(None))
        if not self.trash:
            return live
        trashed = and_(Task.owner_id == self.owner, Task.deleted_at.is_not(None))
        if self.single is not None:
            trashed = and_(trashed, Task.list_id == self.single)
        return or_(live, trashed)


class ExportService:
    def __init__(self, session: AsyncSession, caller: Caller) -> None:
        self.session = session
        self.owner = caller.account_id

    async def plan(
        self, format: ExportFormat, *, list_id: UUID | None = None, trash: bool = False
    ) -> ExportPlan:
        """Plan the export (NotFound for a list the caller may not read)."""
        query = select(TaskList.id, TaskList.name, TaskList.created_at)
        if list_id is not None:
            await access.require(self.session, self.owner, list_id)
            query = query.where(TaskList.id == list_id)
        else:
            query = query.where(TaskList.owner_id == self.owner)
        rows = await self.session.execute(
            query.order_by(TaskList.is_inbox.desc(), TaskList.created_at, TaskList.id)
        )
        lists = {
            row.id: ListRecord(name=row.name, source_id=str(row.id), created_at=row.created_at)
            for row in rows
        }
        # The read is over: the stream reads on a session of its own.
        await self.session.commit()
        return ExportPlan(
            format=format,
            owner=self.owner,
            lists=lists,
            single=list_id,
            trash=trash,
            exported_at=utcnow(),
        )


async def task_batches(
    engine: AsyncEngine, plan: ExportPlan, batch_size: int = EXPORT_BATCH_SIZE
) -> AsyncIterator[list[TaskRecord]]:
    """The export's tasks as records, a batch at a time (keyset on the id)."""
    after: UUID | None = None
    async with AsyncSession(engine) as session:
        while True:
            query = select(
                Task.id,
                Task.list_id,
                Task.title,
                Task.notes,
                Task.priority,
                Task.due_date,
                Task.completed_at,
                Task.created_at,
                Task.deleted_at,
            ).where(plan.which())
            if after is not None:
                query = query.where(Task.id > after)
            rows = (await session.execute(query.order_by(Task.id).limit(batch_size))).all()
            await session.commit()  # a short transaction per batch
            if not rows:
                return
            after = rows[-1].id
            yield [_record(row, plan) for row in rows]
            if len(rows) < batch_size:
                return


def _record(row: Any, plan: ExportPlan) -> TaskRecord:
    list_id: UUID | None = row.list_id
    listed = plan.lists.get(list_id) if list_id is not None else None
    return TaskRecord(
        source_id=str(row.id),
        title=row.title,
        notes=row.notes,
        priority=Priority(row.priority).label,  # type: ignore[arg-type]
        due_date=row.due_date,
        completed_at=_aware(row.completed_at),
        created_at=_aware(row.created_at),
        deleted_at=_aware(row.deleted_at),
        list_name=listed.name if listed else None,
        list_source_id=str(list_id) if listed else None,
    )


def _aware(value: datetime.datetime | None) -> datetime.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


async def chunks(engine: AsyncEngine, plan: ExportPlan) -> AsyncIterator[bytes]:
    """The export's bytes, a batch of tasks at a time."""
    batches = task_batches(engine, plan)
    if plan.format == "json":
        json_writer = JsonExportWriter(exported_at=plan.exported_at, include_trash=plan.trash)
        yield json_writer.head() + json_writer.lists(plan.lists.values())
        async for batch in batches:
            yield json_writer.tasks(batch)
        yield json_writer.tail()
    elif plan.format == "csv":
        csv_writer = CsvExportWriter()
        yield csv_writer.head()
        async for batch in batches:
            yield csv_writer.rows(batch)
    else:
        name = plan.lists[plan.single].name if plan.single is not None else "Tasks"
        ics_writer = IcsExportWriter(calendar_name=name, dtstamp=plan.exported_at)
        yield ics_writer.head()
        async for batch in batches:
            yield ics_writer.todos(batch)
        yield ics_writer.tail()


def download(engine: AsyncEngine, plan: ExportPlan) -> Stream:
    """The export as both doors send it: streamed, as an attachment named by its plan."""
    return Stream(
        chunks(engine, plan),
        media_type=plan.media_type,
        headers={"Content-Disposition": f'attachment; filename="{plan.filename}"'},
    )
