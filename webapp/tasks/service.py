"""TaskService: every rule about tasks lives here, and nowhere else.

Both front doors (the JSON API and the HTML pages) and the restore worker call these
methods. Reads go through the read cache; every write commits and then invalidates it.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, NamedTuple, TypeVar
from uuid import UUID

import msgspec
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from webapp.cache import OFFLINE, Lookup, ReadCache
from webapp.errors import Conflict, InvalidInput, NotFound, StaleVersion
from webapp.tasks.models import NOTES_MAX_LENGTH, TITLE_MAX_LENGTH, Priority, Task
from webapp.tasks.schemas import (
    SortKey,
    SortOrder,
    Status,
    TaskCounts,
    TaskCreate,
    TaskPage,
    TaskQuery,
    TaskRead,
    TaskUpdate,
)

T = TypeVar("T")
Where = Literal["live", "trash", "any"]

LIMIT_MAX = 100
SEARCH_MAX_LENGTH = 200

_PRIORITY_LABELS = {int(p): p.label for p in Priority}
# Selected as plain columns (not ORM entities): the list is the hot path and building
# 50 structs straight from rows costs a fraction of hydrating 50 mapped objects.
_READ_COLUMNS = (
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


# Cached reads are stored as msgspec JSON: the bytes the JSON API sends as they are.
_ENCODER = msgspec.json.Encoder()
_DECODERS: dict[object, msgspec.json.Decoder[Any]] = {}


def _decode(data: bytes, type_: type[T]) -> T:
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_)
    return decoder.decode(data)  # type: ignore[no-any-return]


class TaskRepository(SQLAlchemyAsyncRepository[Task]):
    model_type = Task


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _to_read(row: Any) -> TaskRead:
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


def clean_title(title: str) -> str:
    """The stored form of a title: trimmed, 1 to 200 characters."""
    cleaned = title.strip()
    if not cleaned:
        raise InvalidInput({"title": "must not be empty"})
    if len(cleaned) > TITLE_MAX_LENGTH:
        raise InvalidInput(
            {"title": f"must be at most {TITLE_MAX_LENGTH} characters (got {len(cleaned)})"}
        )
    return cleaned


def clean_notes(notes: str) -> str:
    if len(notes) > NOTES_MAX_LENGTH:
        raise InvalidInput(
            {"notes": f"must be at most {NOTES_MAX_LENGTH} characters (got {len(notes)})"}
        )
    return notes


def validate_query(query: TaskQuery) -> TaskQuery:
    errors = {}
    if not 1 <= query.limit <= LIMIT_MAX:
        errors["limit"] = f"must be between 1 and {LIMIT_MAX}"
    if query.offset < 0:
        errors["offset"] = "must be 0 or more"
    if len(query.q) > SEARCH_MAX_LENGTH:
        errors["q"] = f"must be at most {SEARCH_MAX_LENGTH} characters"
    if errors:
        raise InvalidInput(errors)
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class TaskService:
    """Create, read, change and trash tasks. One instance per request (one session)."""

    def __init__(
        self, session: AsyncSession | Callable[[], AsyncSession], cache: ReadCache
    ) -> None:
        # Given a callable, the session is opened on first use: a read served from the
        # cache then never opens (nor closes) one, which is most of what a hit costs.
        self._session: AsyncSession | None = None
        self._open_session: Callable[[], AsyncSession] | None = None
        if isinstance(session, AsyncSession):
            self._session = session
        else:
            self._open_session = session
        self._repository: TaskRepository | None = None
        self.cache = cache
        # Whether the last read was served from the cache; the API reports it as X-Cache.
        self.last_read_hit = False

    @property
    def session(self) -> AsyncSession:
        """The request's database session, opened now if it was given as a factory."""
        if self._session is None:
            assert self._open_session is not None
            self._session = self._open_session()
        return self._session

    @property
    def repository(self) -> TaskRepository:
        """advanced-alchemy's repository on the session, made on first use."""
        if self._repository is None:
            self._repository = TaskRepository(session=self.session)
        return self._repository

    # ---------------------------------------------------------------- reads

    async def _lookup(self, key: str) -> Lookup:
        lookup = await self.cache.fetch(key)
        self.last_read_hit = lookup.hit
        if not lookup.hit:
            await self._end_read_snapshot()
        return lookup

    async def _end_read_snapshot(self) -> None:
        # MariaDB's REPEATABLE READ keeps a transaction on the snapshot of its first read.
        # If this session read before the lookup just made (a page reads the list, then
        # the counts), that snapshot may predate a write whose bump the lookup saw, and
        # what is loaded now would be stored, stale, under the new generation. Ending the
        # read-only transaction makes the load see everything committed before the lookup.
        session = self._session
        if session is None:
            return
        if session.in_transaction() and not (session.new or session.dirty or session.deleted):
            await session.commit()

    async def _cached(self, key: str, type_: type[T], load: Callable[[], Awaitable[T]]) -> T:
        lookup = await self._lookup(key)
        if lookup.value is not None:
            return _decode(lookup.value, type_)
        value = await load()
        if lookup.generation != OFFLINE:
            await self.cache.store(key, lookup.generation, _ENCODER.encode(value))
        return value

    async def _cached_json(self, key: str, load: Callable[[], Awaitable[object]]) -> bytes:
        lookup = await self._lookup(key)
        if lookup.value is not None:
            return lookup.value
        encoded = _ENCODER.encode(await load())
        await self.cache.store(key, lookup.generation, encoded)
        return encoded

    async def get(self, task_id: UUID, *, where: Where = "live") -> TaskRead:
        """One task. `where` says where the caller expects it: live, in the trash, or any."""

        async def load() -> TaskRead | None:
            row = (
                await self.session.execute(select(*_READ_COLUMNS).where(Task.id == task_id))
            ).one_or_none()
            return None if row is None else _to_read(row)

        task = await self._cached(f"task:{task_id}", TaskRead | None, load)  # type: ignore[arg-type]
        if task is None:
            raise NotFound(f"task {task_id} does not exist")
        if where == "live" and task.deleted_at is not None:
            raise NotFound(f"task {task_id} is in the trash")
        if where == "trash" and task.deleted_at is None:
            raise NotFound(f"task {task_id} is not in the trash")
        return task

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        """A page of tasks matching the query, plus how many match in all."""
        validate_query(query)
        return await self._cached(query.cache_key(), TaskPage, lambda: self._load_page(query))

    async def list_tasks_json(self, query: TaskQuery) -> bytes:
        """The same page as `list_tasks`, as JSON: on a cache hit, the cached bytes as stored.

        The JSON API's hot path: it skips decoding and re-encoding a page nobody reads.
        """
        validate_query(query)
        return await self._cached_json(query.cache_key(), lambda: self._load_page(query))

    async def counts(self) -> TaskCounts:
        """Active, completed and trashed task counts (one index scan, cached)."""

        async def load() -> TaskCounts:
            live = Task.deleted_at.is_(None)
            row = (
                await self.session.execute(
                    select(
                        func.count(case((and_(live, Task.completed_at.is_(None)), 1))),
                        func.count(case((and_(live, Task.completed_at.is_not(None)), 1))),
                        func.count(case((Task.deleted_at.is_not(None), 1))),
                    )
                )
            ).one()
            return TaskCounts(active=row[0], completed=row[1], trash=row[2])

        return await self._cached("counts", TaskCounts, load)

    @staticmethod
    def matches(task: TaskRead, query: TaskQuery) -> bool:
        """Whether `task` belongs in the list `query` describes (trash, status and search).

        The pages ask this after a change, to know whether the task's row stays on screen
        without reading the list again; it agrees with the WHERE clause of `list_tasks`.
        """
        if (task.deleted_at is not None) != query.trash:
            return False
        if query.status is Status.ACTIVE and task.completed_at is not None:
            return False
        if query.status is Status.COMPLETED and task.completed_at is None:
            return False
        search = query.q.strip().casefold()
        return not search or search in task.title.casefold() or search in task.notes.casefold()

    def _filters(self, query: TaskQuery) -> list[ColumnElement[bool]]:
        filters: list[ColumnElement[bool]] = [
            Task.deleted_at.is_not(None) if query.trash else Task.deleted_at.is_(None)
        ]
        if query.status is Status.ACTIVE:
            filters.append(Task.completed_at.is_(None))
        elif query.status is Status.COMPLETED:
            filters.append(Task.completed_at.is_not(None))
        if search := query.q.strip():
            pattern = f"%{_escape_like(search)}%"
            filters.append(
                or_(Task.title.like(pattern, escape="\\"), Task.notes.like(pattern, escape="\\"))
            )
        return filters

    async def _count(self, filters: Sequence[ColumnElement[bool]]) -> int:
        total = await self.session.scalar(select(func.count()).select_from(Task).where(*filters))
        return int(total or 0)

    async def _rows(
        self,
        filters: Sequence[ColumnElement[bool]],
        order_by: Sequence[Any],
        limit: int,
        offset: int,
    ) -> list[TaskRead]:
        statement = (
            select(*_READ_COLUMNS).where(*filters).order_by(*order_by).limit(limit).offset(offset)
        )
        return [_to_read(row) for row in await self.session.execute(statement)]

    async def _load_page(self, query: TaskQuery) -> TaskPage:
        filters = self._filters(query)
        total = await self._count(filters)
        descending = query.order is SortOrder.DESC

        def ordered(*columns: Any) -> list[Any]:
            return [c.desc() if descending else c.asc() for c in columns]

        if query.sort is SortKey.DUE:
            items = await self._load_due_page(query, filters, ordered)
        else:
            column = {
                SortKey.CREATED: Task.created_at,
                SortKey.PRIORITY: Task.priority,
                SortKey.TITLE: Task.title,
                SortKey.DELETED: Task.deleted_at,
            }[query.sort]
            items = await self._rows(filters, ordered(column, Task.id), query.limit, query.offset)
        return TaskPage(items=items, total=total, limit=query.limit, offset=query.offset)

    async def _load_due_page(
        self,
        query: TaskQuery,
        filters: list[ColumnElement[bool]],
        ordered: Callable[..., list[Any]],
    ) -> list[TaskRead]:
        # Tasks without a due date come last in both directions, as people expect. An
        # ORDER BY on `due_date IS NULL` would defeat the index, so the page is read as two
        # index-ordered slices: dated tasks, then undated ones.
        dated = [*filters, Task.due_date.is_not(None)]
        dated_total = await self._count(dated)
        items: list[TaskRead] = []
        if query.offset < dated_total:
            items = await self._rows(
                dated, ordered(Task.due_date, Task.id), query.limit, query.offset
            )
        if len(items) < query.limit:
            items += await self._rows(
                [*filters, Task.due_date.is_(None)],
                ordered(Task.id),
                query.limit - len(items),
                max(0, query.offset - dated_total),
            )
        return items

    # ---------------------------------------------------------------- writes

    async def _commit(self) -> None:
        await self.session.commit()
        # After the commit, never before: a read between the two would cache old data
        # under the new generation.
        await self.cache.invalidate()

    async def _load(self, task_id: UUID, where: Where) -> Task:
        task = await self.session.get(Task, task_id, populate_existing=True)
        if task is None:
            raise NotFound(f"task {task_id} does not exist")
        if where == "live" and task.deleted_at is not None:
            raise NotFound(f"task {task_id} is in the trash")
        if where == "trash" and task.deleted_at is None:
            raise Conflict(f"task {task_id} is not in the trash")
        return task

    async def _save(self, task: Task) -> TaskRead:
        # Read before the commit: a rollback expires `task`, and reloading an attribute
        # outside of an await is not possible with an async session.
        task_id = task.id
        try:
            await self._commit()
        except StaleDataError:
            await self.session.rollback()
            current = await self.session.get(Task, task_id, populate_existing=True)
            raise StaleVersion(
                "the task was changed by someone else; reload it and try again",
                current_version=current.version if current else 0,
            ) from None
        return _to_read(task)

    async def create(self, data: TaskCreate) -> TaskRead:
        """Add a task; the title is trimmed and must be 1 to 200 characters."""
        errors: dict[str, str] = {}
        title = notes = ""
        try:
            title = clean_title(data.title)
        except InvalidInput as error:
            errors |= error.errors
        try:
            notes = clean_notes(data.notes)
        except InvalidInput as error:
            errors |= error.errors
        if errors:
            raise InvalidInput(errors)
        now = _now()
        task = Task(
            title=title,
            notes=notes,
            priority=Priority.from_label(data.priority),
            due_date=data.due_date,
            created_at=now,
            updated_at=now,
            version=1,
        )
        await self.repository.add(task)
        return await self._save(task)

    async def update(
        self, task_id: UUID, changes: TaskUpdate, *, expected_version: int | None = None
    ) -> TaskRead:
        """Change some fields of a live task.

        The version in `changes` (or `expected_version`, from an If-Match header) must be
        the stored one; a stale version raises StaleVersion and changes nothing.
        """
        errors: dict[str, str] = {}
        title = notes = None
        if not isinstance(changes.title, msgspec.UnsetType):
            try:
                title = clean_title(changes.title)
            except InvalidInput as error:
                errors |= error.errors
        if not isinstance(changes.notes, msgspec.UnsetType):
            try:
                notes = clean_notes(changes.notes)
            except InvalidInput as error:
                errors |= error.errors
        if errors:
            raise InvalidInput(errors)

        task = await self._load(task_id, "live")
        for expected, precondition in ((changes.version, False), (expected_version, True)):
            if isinstance(expected, int) and expected != task.version:
                raise StaleVersion(
                    f"version {expected} is stale; the task is at version {task.version}",
                    current_version=task.version,
                    precondition=precondition,
                )
        changed = False

        def assign(field: str, value: object) -> None:
            nonlocal changed
            if getattr(task, field) != value:
                setattr(task, field, value)
                changed = True

        if title is not None:
            assign("title", title)
        if notes is not None:
            assign("notes", notes)
        if not isinstance(changes.priority, msgspec.UnsetType):
            assign("priority", int(Priority.from_label(changes.priority)))
        if not isinstance(changes.due_date, msgspec.UnsetType):
            assign("due_date", changes.due_date)
        if not isinstance(changes.completed, msgspec.UnsetType) and changes.completed != (
            task.completed_at is not None
        ):
            assign("completed_at", _now() if changes.completed else None)
        if not changed:
            return _to_read(task)
        task.updated_at = _now()
        return await self._save(task)

    async def _set_completed(self, task_id: UUID, completed: bool) -> TaskRead:
        task = await self._load(task_id, "live")
        if (task.completed_at is not None) == completed:
            return _to_read(task)  # already so: idempotent, nothing written
        task.completed_at = _now() if completed else None
        task.updated_at = _now()
        return await self._save(task)

    async def complete(self, task_id: UUID) -> TaskRead:
        """Mark a live task completed (a no-op if it already is)."""
        return await self._set_completed(task_id, True)

    async def reopen(self, task_id: UUID) -> TaskRead:
        """Mark a live task active again (a no-op if it already is)."""
        return await self._set_completed(task_id, False)

    async def delete(self, task_id: UUID) -> TaskRead:
        """Move a live task to the trash; it can be restored until it is purged."""
        task = await self._load(task_id, "live")
        task.deleted_at = _now()
        task.updated_at = task.deleted_at
        return await self._save(task)

    async def restore(self, task_id: UUID) -> TaskRead:
        """Bring a task back from the trash, to its old place. A live task is left as it is."""
        task = await self._load(task_id, "any")
        if task.deleted_at is None:
            return _to_read(task)
        task.deleted_at = None
        task.updated_at = _now()
        return await self._save(task)

    async def purge(self, task_id: UUID) -> None:
        """Delete a task for ever. Only tasks in the trash can be purged."""
        task = await self._load(task_id, "trash")
        await self.session.delete(task)
        await self._commit()

    async def _bulk(self, *where: ColumnElement[bool], **values: Any) -> int:
        now = _now()
        result = await self.session.execute(
            update(Task)
            .where(*where)
            .values(**values, updated_at=now, version=Task.version + 1)
            .execution_options(synchronize_session=False)
        )
        await self._commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def empty_trash(self) -> int:
        """Purge every task in the trash; returns how many were purged."""
        result = await self.session.execute(
            delete(Task)
            .where(Task.deleted_at.is_not(None))
            .execution_options(synchronize_session=False)
        )
        await self._commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def clear_completed(self) -> int:
        """Move every completed live task to the trash; returns how many moved."""
        return await self._bulk(
            Task.deleted_at.is_(None), Task.completed_at.is_not(None), deleted_at=_now()
        )

    async def complete_all(self) -> int:
        """Complete every active live task; returns how many changed."""
        return await self._bulk(
            Task.deleted_at.is_(None), Task.completed_at.is_(None), completed_at=_now()
        )

    async def reopen_all(self) -> int:
        """Reopen every completed live task; returns how many changed."""
        return await self._bulk(
            Task.deleted_at.is_(None), Task.completed_at.is_not(None), completed_at=None
        )

    # ------------------------------------------------------- bulk restore (restore jobs)

    async def trash_size(self, *, deleted_before: datetime.datetime) -> int:
        """How many tasks in the trash were deleted at or before `deleted_before` (uncached)."""
        return await self._count(_trashed_by(deleted_before))

    async def in_trash(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of `ids` are tasks in the trash now (uncached)."""
        found: set[UUID] = set()
        # Chunked so that no statement carries more bound values than a database accepts.
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            rows = await self.session.scalars(
                select(Task.id).where(Task.id.in_(chunk), Task.deleted_at.is_not(None))
            )
            found.update(rows)
        return found

    async def trash_place(
        self, *, deleted_before: datetime.datetime, after: TrashPlace | None, offset: int
    ) -> TrashPlace | None:
        """The place of the `offset`-th task (from 0) of the trash deleted at or before
        `deleted_before`, counting after `after`; None when fewer tasks are left.

        With `restore_batch(after=..., through=...)` it walks the trash in batches by
        keyset on the (deleted_at, id) index: each batch seeks straight to where the last
        one stopped, over whatever the database has not yet cleaned up behind it.
        """
        mysql = self._is_mysql()
        row = (
            await self.session.execute(
                select(Task.deleted_at, Task.id)
                .where(*_trashed_by(deleted_before), *_beyond(after, mysql=mysql))
                .order_by(Task.deleted_at, Task.id)
                .offset(offset)
                .limit(1)
                .with_hint(Task, _TRASH_INDEX_HINT, "mysql")
            )
        ).one_or_none()
        return None if row is None else TrashPlace(row.deleted_at, row.id)

    async def restore_batch(
        self,
        *,
        deleted_before: datetime.datetime,
        ids: Sequence[UUID] | None = None,
        after: TrashPlace | None = None,
        through: TrashPlace | None = None,
    ) -> int:
        """Restore, in one UPDATE, tasks in the trash deleted at or before `deleted_before`:
        those among `ids`, or else those placed after `after` up to `through` (included)
        in the trash's (deleted_at, id) order. Returns how many were restored.

        Tasks deleted later, and tasks not in the trash, are left alone, so running a batch
        twice restores nothing twice. It does not commit: a restore job commits the batch
        together with its progress, then invalidates the cache itself.
        """
        mysql = self._is_mysql()
        if through is None:
            where = [*_trashed_by(deleted_before)]
        else:
            # `through` lies at or before `deleted_before`, so it bounds the batch alone;
            # with no second upper bound, SQLite ranges on both ends of the index.
            where = [Task.deleted_at.is_not(None), _up_to(through, mysql=mysql)]
        where += _beyond(after, mysql=mysql)
        if ids is not None:
            where.append(Task.id.in_(ids))
        statement = (
            update(Task)
            .where(*where)
            .values(deleted_at=None, updated_at=_now(), version=Task.version + 1)
            .execution_options(synchronize_session=False)
        )
        if ids is None and (after is not None or through is not None):
            statement = statement.with_hint(_TRASH_INDEX_HINT, dialect_name="mysql")
        result = await self.session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _is_mysql(self) -> bool:
        return self.session.get_bind().dialect.name in {"mysql", "mariadb"}


class TrashPlace(NamedTuple):
    """Where a task stands in the trash's (deleted_at, id) order: a restore job's cursor."""

    deleted_at: datetime.datetime
    task_id: UUID


# Many tasks can share one deleted_at (Clear completed trashes them together), so a batch
# must be bounded on (deleted_at, id) in the index, not on deleted_at alone, or every batch
# would scan all the tasks sharing a time. SQLite ranges on a row value; MySQL/MariaDB do
# not (they scan), so for them the comparison is spelt out and the index named: their
# planner may otherwise range on another index that starts with deleted_at only.
_TRASH_INDEX_HINT = "FORCE INDEX (ix_task_trash)"


def _beyond(place: TrashPlace | None, *, mysql: bool) -> list[ColumnElement[bool]]:
    """Tasks placed after `place` in the trash's (deleted_at, id) order."""
    if place is None:
        return []
    if not mysql:
        return [tuple_(Task.deleted_at, Task.id) > (place.deleted_at, place.task_id)]
    return [
        or_(
            Task.deleted_at > place.deleted_at,
            and_(Task.deleted_at == place.deleted_at, Task.id > place.task_id),
        )
    ]


def _up_to(place: TrashPlace, *, mysql: bool) -> ColumnElement[bool]:
    """Tasks placed at or before `place` in the trash's (deleted_at, id) order."""
    if not mysql:
        return tuple_(Task.deleted_at, Task.id) <= (place.deleted_at, place.task_id)
    return or_(
        Task.deleted_at < place.deleted_at,
        and_(Task.deleted_at == place.deleted_at, Task.id <= place.task_id),
    )


def _trashed_by(deleted_before: datetime.datetime) -> tuple[ColumnElement[bool], ...]:
    return (Task.deleted_at.is_not(None), Task.deleted_at <= deleted_before)
