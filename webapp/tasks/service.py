"""TaskService: every rule about tasks lives here, and nowhere else.

Both front doors (the JSON API and the HTML pages) and the restore worker call these
methods, for a caller: every read and write touches that account's tasks only, and
another account's task is as unknown as one that never existed (NotFound). Reads go
through the caller's scope of the read cache (`webapp.cache.reads`) and the SQL of
`webapp.tasks.queries`; every write commits and then invalidates that scope.
"""

from __future__ import annotations

import asyncio
import datetime
import random
from collections.abc import Callable
from typing import Any, Literal
from uuid import UUID

import msgspec
from sqlalchemy import ColumnElement, delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from webapp.accounts.caller import Caller
from webapp.cache import CachedReads, ReadCache
from webapp.clock import utcnow
from webapp.errors import Conflict, InvalidInput, NotFound, StaleVersion
from webapp.tasks import queries
from webapp.tasks.models import NOTES_MAX_LENGTH, TITLE_MAX_LENGTH, Priority, Task
from webapp.tasks.schemas import TaskCounts, TaskCreate, TaskPage, TaskQuery, TaskRead, TaskUpdate
from webapp.text import control_character, is_visible

# Where a caller expects a task: live (not in the trash), in the trash, or either.
Where = Literal["live", "trash", "any"]

LIMIT_MAX = 100
# Past any list anyone pages through, and within what every database takes as an OFFSET.
OFFSET_MAX = 1_000_000_000
SEARCH_MAX_LENGTH = 200
# How often a change without a version is tried when other writers keep winning the race;
# between tries it waits a random moment (up to RETRY_PAUSE_SECONDS times the tries so far)
# so that writers that collided do not collide again in step.
WRITE_ATTEMPTS = 10
RETRY_PAUSE_SECONDS = 0.002


def clean_title(title: str) -> str:
    """The stored form of a title: trimmed, 1 to 200 characters, something visible in
    them, and no control character (see webapp.text)."""
    cleaned = title.strip()
    if not is_visible(cleaned):
        raise InvalidInput({"title": "must not be empty"})
    if len(cleaned) > TITLE_MAX_LENGTH:
        raise InvalidInput(
            {"title": f"must be at most {TITLE_MAX_LENGTH} characters (got {len(cleaned)})"}
        )
    if refused := control_character(cleaned):
        raise InvalidInput({"title": f"must not hold control characters (found {refused})"})
    return cleaned


def clean_notes(notes: str) -> str:
    """Notes as given: up to 10,000 characters, line breaks and tabs but no other control
    character."""
    if len(notes) > NOTES_MAX_LENGTH:
        raise InvalidInput(
            {"notes": f"must be at most {NOTES_MAX_LENGTH} characters (got {len(notes)})"}
        )
    if refused := control_character(notes, allow_line_breaks=True):
        raise InvalidInput({"notes": f"must not hold control characters (found {refused})"})
    return notes


def validate_query(query: TaskQuery) -> TaskQuery:
    errors = {}
    if not 1 <= query.limit <= LIMIT_MAX:
        errors["limit"] = f"must be between 1 and {LIMIT_MAX}"
    if not 0 <= query.offset <= OFFSET_MAX:
        errors["offset"] = f"must be between 0 and {OFFSET_MAX}"
    if len(query.q) > SEARCH_MAX_LENGTH:
        errors["q"] = f"must be at most {SEARCH_MAX_LENGTH} characters"
    if errors:
        raise InvalidInput(errors)
    return query


def check_where(task_id: UUID, in_trash: bool, where: Where) -> None:
    """The one rule for a task that is not where the caller expects it.

    A trashed task asked for as live does not exist for that caller (NotFound); a live
    task asked for in the trash (to purge it) exists but refuses the request (Conflict).
    """
    if where == "live" and in_trash:
        raise NotFound(f"task {task_id} is in the trash")
    if where == "trash" and not in_trash:
        raise Conflict(f"task {task_id} is not in the trash")


class TaskService:
    """Create, read, change and trash tasks. One instance per request (one session)."""

    def __init__(
        self,
        session: AsyncSession | Callable[[], AsyncSession],
        cache: ReadCache,
        caller: Caller,
    ) -> None:
        # Given a callable, the session is opened on first use: a read served from the
        # cache then never opens (nor closes) one, which is most of what a hit costs.
        self._session: AsyncSession | None = None
        self._open_session: Callable[[], AsyncSession] | None = None
        if isinstance(session, AsyncSession):
            self._session = session
        else:
            self._open_session = session
        self.cache = cache
        self.caller = caller
        self.owner = caller.account_id
        self.reads = CachedReads(cache, caller.cache_scope, lambda: self._session)

    @property
    def session(self) -> AsyncSession:
        """The request's database session, opened now if it was given as a factory."""
        if self._session is None:
            assert self._open_session is not None
            self._session = self._open_session()
        return self._session

    @property
    def last_read_hit(self) -> bool:
        """Whether the last read was served from the cache (the API's X-Cache)."""
        return self.reads.last_hit

    # ---------------------------------------------------------------- reads

    async def get(self, task_id: UUID, *, where: Where = "live") -> TaskRead:
        """One task. `where` says where the caller expects it: live, in the trash, or any."""
        task = await self.reads.value(
            f"task:{task_id}",
            TaskRead | None,
            lambda: queries.load_task(self.session, self.owner, task_id),
        )
        if task is None:
            raise NotFound(f"task {task_id} does not exist")
        check_where(task_id, task.deleted_at is not None, where)
        return task

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        """A page of tasks matching the query, plus how many match in all."""
        validate_query(query)
        return await self.reads.value(
            query.cache_key(),
            TaskPage,
            lambda: queries.load_page(self.session, self.owner, query),
        )

    async def list_tasks_json(self, query: TaskQuery) -> bytes:
        """The same page as `list_tasks`, as JSON: on a cache hit, the cached bytes as stored.

        The JSON API's hot path: it skips decoding and re-encoding a page nobody reads.
        """
        validate_query(query)
        return await self.reads.json(
            query.cache_key(), lambda: queries.load_page(self.session, self.owner, query)
        )

    async def counts(self) -> TaskCounts:
        """Active, completed and trashed task counts (one index scan, cached)."""
        return await self.reads.value(
            "counts", TaskCounts, lambda: queries.load_counts(self.session, self.owner)
        )

    async def is_listed(self, task: TaskRead, query: TaskQuery) -> bool:
        """Whether the list `query` describes shows `task` now (uncached).

        The pages ask this after a change, to know whether the task's row stays on screen
        without reading the list again. The database answers, with the list's own WHERE
        clause: its collation, not Python's, decides what a search matches.
        """
        return await queries.is_listed(self.session, self.owner, task.id, query)

    # ---------------------------------------------------------------- writes

    async def _commit(self) -> None:
        await self.session.commit()
        # After the commit, never before: a read between the two would cache old data
        # under the new generation.
        await self.cache.invalidate([self.caller.cache_scope])

    async def _load(self, task_id: UUID, where: Where) -> Task:
        task = await queries.load_for_change(self.session, self.owner, task_id)
        if task is None:
            raise NotFound(f"task {task_id} does not exist")
        check_where(task_id, task.deleted_at is not None, where)
        return task

    async def _save(self, task: Task) -> TaskRead:
        # Read before the commit: a rollback expires `task`, and reloading an attribute
        # outside of an await is not possible with an async session.
        task_id = task.id
        try:
            await self._commit()
        except StaleDataError:
            await self.session.rollback()
            current = await queries.load_for_change(self.session, self.owner, task_id)
            raise StaleVersion(
                "the task was changed by someone else; reload it and try again",
                current_version=current.version if current else 0,
            ) from None
        return queries.to_read(task)

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
        now = utcnow()
        task = Task(
            owner_id=self.owner,
            title=title,
            notes=notes,
            priority=Priority.from_label(data.priority),
            due_date=data.due_date,
            created_at=now,
            updated_at=now,
            version=1,
        )
        self.session.add(task)
        return await self._save(task)

    async def _change(
        self,
        task_id: UUID,
        where: Where,
        apply: Callable[[Task, datetime.datetime], bool],
        *,
        versioned: bool = False,
    ) -> TaskRead:
        """Load the task, `apply(task, now)` the change (False: nothing to change, and
        nothing touched) and commit it.

        Another writer may commit between the load and the commit; the version check of
        the UPDATE then refuses this one. A change made against a version the caller
        named (`versioned`) is refused with StaleVersion: the caller edited what is no
        longer there. A change without one ("complete it", "rename it") is applied again
        to the task as it now is, up to WRITE_ATTEMPTS times.
        """
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            task = await self._load(task_id, where)
            now = utcnow()
            if not apply(task, now):
                return queries.to_read(task)  # already so: nothing written
            task.updated_at = now
            try:
                return await self._save(task)
            except StaleVersion:
                if versioned or attempt == WRITE_ATTEMPTS:
                    raise
            await asyncio.sleep(random.uniform(0, RETRY_PAUSE_SECONDS * attempt))  # noqa: S311
        raise AssertionError("unreachable")  # pragma: no cover

    async def update(
        self,
        task_id: UUID,
        changes: TaskUpdate,
        *,
        expected_version: int | frozenset[int] | None = None,
    ) -> TaskRead:
        """Change some fields of a live task.

        The version in `changes` must be the stored one, and so must `expected_version`
        (from an If-Match header: one version, or a set of which one must be it); a stale
        version raises StaleVersion and changes nothing. Without a version the change is
        applied to the task as it is.
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
        expectations: list[tuple[frozenset[int], bool]] = []
        if isinstance(changes.version, int):
            expectations.append((frozenset({changes.version}), False))
        if expected_version is not None:
            if isinstance(expected_version, int):
                expected_version = frozenset({expected_version})
            expectations.append((expected_version, True))

        def apply(task: Task, now: datetime.datetime) -> bool:
            for expected, precondition in expectations:
                if task.version not in expected:
                    named = ", ".join(str(v) for v in sorted(expected)) or "none of this task's"
                    raise StaleVersion(
                        f"version {named} is stale; the task is at version {task.version}",
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
                assign("completed_at", now if changes.completed else None)
            return changed

        return await self._change(task_id, "live", apply, versioned=bool(expectations))

    async def _set_completed(self, task_id: UUID, completed: bool) -> TaskRead:
        def apply(task: Task, now: datetime.datetime) -> bool:
            if (task.completed_at is not None) == completed:
                return False  # already so: idempotent
            task.completed_at = now if completed else None
            return True

        return await self._change(task_id, "live", apply)

    async def complete(self, task_id: UUID) -> TaskRead:
        """Mark a live task completed (a no-op if it already is)."""
        return await self._set_completed(task_id, True)

    async def reopen(self, task_id: UUID) -> TaskRead:
        """Mark a live task active again (a no-op if it already is)."""
        return await self._set_completed(task_id, False)

    async def delete(self, task_id: UUID) -> TaskRead:
        """Move a live task to the trash; it can be restored until it is purged."""

        def apply(task: Task, now: datetime.datetime) -> bool:
            task.deleted_at = now
            return True

        return await self._change(task_id, "live", apply)

    async def restore(self, task_id: UUID) -> TaskRead:
        """Bring a task back from the trash, to its old place. A live task is left as it is."""

        def apply(task: Task, now: datetime.datetime) -> bool:
            if task.deleted_at is None:
                return False
            task.deleted_at = None
            return True

        return await self._change(task_id, "any", apply)

    async def purge(self, task_id: UUID) -> None:
        """Delete a task for ever. Only tasks in the trash can be purged."""
        task = await self._load(task_id, "trash")
        await self.session.delete(task)
        try:
            await self._commit()
        except StaleDataError:
            # Someone else purged it, or restored or changed it, since it was loaded.
            await self.session.rollback()
            await self._load(task_id, "trash")  # NotFound if gone; Conflict if restored
            raise Conflict(f"task {task_id} was changed meanwhile; try again") from None

    async def _bulk(self, *where: ColumnElement[bool], **values: Any) -> int:
        result = await self.session.execute(
            update(Task)
            .where(queries.owned_by(self.owner), *where)
            .values(**values, updated_at=utcnow(), version=Task.version + 1)
            .execution_options(synchronize_session=False)
        )
        await self._commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def empty_trash(self) -> int:
        """Purge every task in the trash; returns how many were purged."""
        result = await self.session.execute(
            delete(Task)
            .where(queries.owned_by(self.owner), Task.deleted_at.is_not(None))
            .execution_options(synchronize_session=False)
        )
        await self._commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def clear_completed(self) -> int:
        """Move every completed live task to the trash; returns how many moved."""
        return await self._bulk(
            Task.deleted_at.is_(None), Task.completed_at.is_not(None), deleted_at=utcnow()
        )

    async def complete_all(self) -> int:
        """Complete every active live task; returns how many changed."""
        return await self._bulk(
            Task.deleted_at.is_(None), Task.completed_at.is_(None), completed_at=utcnow()
        )

    async def reopen_all(self) -> int:
        """Reopen every completed live task; returns how many changed."""
        return await self._bulk(
            Task.deleted_at.is_(None), Task.completed_at.is_not(None), completed_at=None
        )
