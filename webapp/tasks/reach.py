"""Which tasks a caller reaches, as SQL conditions: those of its own lists and of the
lists shared with it (`webapp.lists.access` says the roles). Read once per request."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.lists import access
from webapp.lists.models import Role, TaskList
from webapp.tasks import queries
from webapp.tasks.models import Task
from webapp.tasks.schemas import TaskQuery


class Reach:
    """The tasks `me` may read, restore and change, for one request's session."""

    def __init__(self, session: Callable[[], AsyncSession], me: UUID) -> None:
        self._session = session
        self.me = me
        self._shared: dict[UUID, Role] | None = None

    async def shared(self) -> dict[UUID, Role]:
        """The lists shared with the caller, and its role on each."""
        if self._shared is None:
            self._shared = await access.memberships(self._session(), self.me)
        return self._shared

    async def edited(self) -> list[UUID]:
        """The lists shared with the caller as their editor."""
        return [list_id for list_id, role in (await self.shared()).items() if role.writes]

    async def readable(self) -> ColumnElement[bool]:
        return queries.readable(self.me, list(await self.shared()))

    async def restorable(self) -> ColumnElement[bool]:
        return queries.restorable(self.me, await self.edited())

    async def visible(self) -> ColumnElement[bool]:
        """Live tasks the caller may read; tasks in the trash it may restore."""
        return queries.visible(await self.readable(), await self.restorable())

    async def of_query(self, query: TaskQuery) -> ColumnElement[bool]:
        """What a list read covers: one list (the caller must read it, or edit it for its
        trash), or every list the caller reads (restores from, for the trash)."""
        if query.list_id is not None:
            await access.require(self._session(), self.me, query.list_id, write=query.trash)
            return queries.in_list(query.list_id)
        return await (self.restorable() if query.trash else self.readable())

    async def role(self, task: Task) -> Role | None:
        """The caller's role on the task's list (None: it does not reach the task)."""
        if task.owner_id == self.me:
            return Role.OWNER
        return (await self.shared()).get(task.list_id) if task.list_id else None

    async def writable_list(self, list_id: UUID | None) -> tuple[UUID, UUID]:
        """A list the caller may add tasks to (default: its Inbox), and its owner."""
        session = self._session()
        if list_id is None:
            return await access.inbox_of(session, self.me), self.me
        role = await access.require(session, self.me, list_id, write=True)
        owner = self.me if role is Role.OWNER else await access.owner_of(session, list_id)
        return list_id, owner

    async def changeable_lists(self) -> set[UUID]:
        """Every list whose tasks the caller may change: its own, and those it edits."""
        own = await self._session().scalars(select(TaskList.id).where(TaskList.owner_id == self.me))
        return set(own) | set(await self.edited())
