"""TaskService: every rule about tasks lives here, and nowhere else.

Both front doors (the JSON API and the HTML pages) and the restore worker call these
methods, for a caller: what it may read and change is the policy of lists
(`webapp.lists.access`): the tasks of its own lists, and of the lists shared with it
(changes only as their editor). A task it may not see is as unknown as one that never
existed (NotFound); one it may see but not change is Forbidden. Reads go through the
caller's scope of the read cache (`webapp.cache.reads`) and the SQL of
`webapp.tasks.queries`; every write commits and then publishes a Change to everyone who
sees the list (their cache scopes are retired; open pages are told).
"""

from __future__ import annotations

import asyncio
import datetime
import random
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import ColumnElement, delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from webapp.accounts.caller import Caller
from webapp.cache import CachedReads, ReadCache
from webapp.clock import utcnow
from webapp.errors import Conflict, Forbidden, InvalidInput, NotFound, StaleVersion
from webapp.events.changes import Change, Changes
from webapp.lists import access
from webapp.tasks import queries
from webapp.tasks.models import Priority, Task
from webapp.tasks.reach import Reach
from webapp.tasks.schemas import TaskCounts, TaskCreate, TaskPage, TaskQuery, TaskRead, TaskUpdate
from webapp.tasks.validation import (
    Where,
    check_where,
    clean_notes,
    clean_title,
    validate_query,
)

# How often a change without a version is tried when other writers keep winning the race;
# between tries it waits a random moment (up to RETRY_PAUSE_SECONDS times the tries so far)
# so that writers that collided do not collide again in step.
WRITE_ATTEMPTS = 10
RETRY_PAUSE_SECONDS = 0.002


class TaskService:
    """Create, read, change and trash tasks. One instance per request (one session)."""

    def __init__(
        self,
        session: AsyncSession | Callable[[], AsyncSession],
        cache: ReadCache,
        caller: Caller,
        changes: Changes | None = None,
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
        self.me = caller.account_id
        self.changes = changes or Changes(cache)
        self.reads = CachedReads(cache, caller.cache_scope, lambda: self._session)
        # What the caller reaches (its lists and those shared with it, read on first need).
        self.reach = Reach(lambda: self.session, self.me)
        # The lists the change being made touches (whose audience hears of it).
        self._touched: set[UUID | None] = set()
        self._orphans_of: set[UUID] = set()

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

        async def load() -> TaskRead | None:
            return await queries.load_task(self.session, await self.reach.visible(), task_id)

        task = await self.reads.value(f"task:{task_id}", TaskRead | None, load)
        if task is None:
            raise NotFound(f"task {task_id} does not exist")
        check_where(task_id, task.deleted_at is not None, where)
        return task

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        """A page of tasks matching the query, plus how many match in all."""
        validate_query(query)

        async def load() -> TaskPage:
            return await queries.load_page(self.session, await self.reach.of_query(query), query)

        return await self.reads.value(query.cache_key(), TaskPage, load)

    async def list_tasks_json(self, query: TaskQuery) -> bytes:
        """The same page as `list_tasks`, as JSON: on a cache hit, the cached bytes as stored.

        The JSON API's hot path: it skips decoding and re-encoding a page nobody reads.
        """
        validate_query(query)

        async def load() -> TaskPage:
            return await queries.load_page(self.session, await self.reach.of_query(query), query)

        return await self.reads.json(query.cache_key(), load)

    async def counts(self, list_id: UUID | None = None) -> TaskCounts:
        """Active and completed tasks of one list (or of all the caller reads), and the
        tasks in the caller's trash (index scans, cached)."""

        async def load() -> TaskCounts:
            live = await self.reach.of_query(TaskQuery(list_id=list_id))
            return await queries.load_counts(self.session, live, await self.reach.restorable())

        key = f"counts:{list_id.hex if list_id else 'all'}"
        return await self.reads.value(key, TaskCounts, load)

    async def is_listed(self, task: TaskRead, query: TaskQuery) -> bool:
        """Whether the list `query` describes shows `task` now (uncached).

        The pages ask this after a change, to know whether the task's row stays on screen
        without reading the list again. The database answers, with the list's own WHERE
        clause: its collation, not Python's, decides what a search matches.
        """
        scope = await self.reach.of_query(query)
        return await queries.is_listed(self.session, scope, task.id, query)

    # ---------------------------------------------------------------- writes

    async def _commit(self) -> None:
        # Who hears of the change is read in its own transaction: a query after the commit
        # would open another, which the response then commits (and a stalled database
        # would hold the response past its deadline).
        change = await self._news()
        await self.session.commit()
        # Published after the commit, never before: a read between the two would cache
        # old data under the new generation.
        await self.changes.publish(change)

    async def _news(self) -> Change:
        touched, self._touched = self._touched, set()
        orphans_of, self._orphans_of = self._orphans_of, set()
        audience = {self.me, *orphans_of}
        lists = {list_id for list_id in touched if list_id is not None}
        for list_id in lists:
            audience |= await access.audience(self.session, list_id)
        return Change.of(audience, lists)

    async def _load(self, task_id: UUID, where: Where) -> Task:
        """The task, to change: NotFound unless the caller may see it, Forbidden unless
        it may change it too."""
        task = await queries.load_for_change(self.session, await self.reach.visible(), task_id)
        if task is None:
            raise NotFound(f"task {task_id} does not exist")
        role = await self.reach.role(task)
        if role is None:  # pragma: no cover  (_visible and _role agree)
            raise NotFound(f"task {task_id} does not exist")
        if not role.writes:
            raise Forbidden(
                "you may read this task's list, not change it (ask its owner to make you an "
                "editor)"
            )
        check_where(task_id, task.deleted_at is not None, where)
        self._touch(task)
        return task

    def _touch(self, task: Task) -> None:
        self._touched.add(task.list_id)
        if task.list_id is None and task.owner_id is not None:
            self._orphans_of.add(task.owner_id)

    async def _save(self, task: Task) -> TaskRead:
        # Read before the commit: a rollback expires `task`, and reloading an attribute
        # outside of an await is not possible with an async session.
        task_id = task.id
        try:
            await self._commit()
        except StaleDataError:
            await self.session.rollback()
            current = await queries.load_for_change(
                self.session, await self.reach.visible(), task_id
            )
            raise StaleVersion(
                "the task was changed by someone else; reload it and try again",
                current_version=current.version if current else 0,
            ) from None
        return queries.to_read(task)

    async def create(self, data: TaskCreate) -> TaskRead:
        """Add a task to a list (default: the caller's Inbox); the title is trimmed and
        must be 1 to 200 characters."""
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
        list_id, owner = await self.reach.writable_list(data.list_id)
        now = utcnow()
        task = Task(
            owner_id=owner,
            list_id=list_id,
            title=title,
            notes=notes,
            priority=Priority.from_label(data.priority),
            due_date=data.due_date,
            created_at=now,
            updated_at=now,
            version=1,
        )
        self.session.add(task)
        self._touch(task)
        return await self._save(task)

    async def _change(
        self,
        task_id: UUID,
        where: Where,
        apply: Callable[[Task, datetime.datetime], Awaitable[bool]],
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
            if not await apply(task, now):
                self._touched.clear()
                self._orphans_of.clear()
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
        """Change some fields of a live task, or move it to another list (`list_id`: one
        the caller may add to).

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
        move_to: tuple[UUID, UUID] | None = None
        if not isinstance(changes.list_id, msgspec.UnsetType):
            move_to = await self.reach.writable_list(changes.list_id)
        expectations: list[tuple[frozenset[int], bool]] = []
        if isinstance(changes.version, int):
            expectations.append((frozenset({changes.version}), False))
        if expected_version is not None:
            if isinstance(expected_version, int):
                expected_version = frozenset({expected_version})
            expectations.append((expected_version, True))

        async def apply(task: Task, now: datetime.datetime) -> bool:
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
            if move_to is not None:
                # The task belongs to its list's owner: moved, it is the new owner's.
                assign("list_id", move_to[0])
                assign("owner_id", move_to[1])
                self._touch(task)
            return changed

        return await self._change(task_id, "live", apply, versioned=bool(expectations))

    async def _set_completed(self, task_id: UUID, completed: bool) -> TaskRead:
        async def apply(task: Task, now: datetime.datetime) -> bool:
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

        async def apply(task: Task, now: datetime.datetime) -> bool:
            task.deleted_at = now
            return True

        return await self._change(task_id, "live", apply)

    async def restore(self, task_id: UUID) -> TaskRead:
        """Bring a task back from the trash, to its list, or to its owner's Inbox if the
        list was deleted since. A live task is left as it is."""

        async def apply(task: Task, now: datetime.datetime) -> bool:
            if task.deleted_at is None:
                return False
            task.deleted_at = None
            if task.list_id is None and task.owner_id is not None:
                task.list_id = await access.inbox_of(self.session, task.owner_id)
                self._touch(task)
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

    async def _bulk_scope(self, list_id: UUID | None) -> ColumnElement[bool]:
        """The tasks a bulk action may change: one list's (the caller must edit it), or
        every task the caller may change."""
        if list_id is not None:
            await access.require(self.session, self.me, list_id, write=True)
            self._touched.add(list_id)
            return queries.in_list(list_id)
        self._touched |= await self.reach.changeable_lists()
        return await self.reach.restorable()

    async def _bulk(self, list_id: UUID | None, *where: ColumnElement[bool], **values: Any) -> int:
        scope = await self._bulk_scope(list_id)
        result = await self.session.execute(
            update(Task)
            .where(scope, *where)
            .values(**values, updated_at=utcnow(), version=Task.version + 1)
            .execution_options(synchronize_session=False)
        )
        await self._commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def empty_trash(self) -> int:
        """Purge every task in the caller's trash (of its lists and those it edits);
        returns how many were purged."""
        scope = await self._bulk_scope(None)
        self._orphans_of.add(self.me)
        result = await self.session.execute(
            delete(Task)
            .where(scope, Task.deleted_at.is_not(None))
            .execution_options(synchronize_session=False)
        )
        await self._commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def clear_completed(self, list_id: UUID | None = None) -> int:
        """Move every completed live task (of one list, or of all) to the trash; returns
        how many moved."""
        return await self._bulk(
            list_id, Task.deleted_at.is_(None), Task.completed_at.is_not(None), deleted_at=utcnow()
        )

    async def complete_all(self, list_id: UUID | None = None) -> int:
        """Complete every active live task (of one list, or of all); returns how many
        changed."""
        return await self._bulk(
            list_id, Task.deleted_at.is_(None), Task.completed_at.is_(None), completed_at=utcnow()
        )

    async def reopen_all(self, list_id: UUID | None = None) -> int:
        """Reopen every completed live task (of one list, or of all); returns how many
        changed."""
        return await self._bulk(
            list_id, Task.deleted_at.is_(None), Task.completed_at.is_not(None), completed_at=None
        )
