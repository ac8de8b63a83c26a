"""ListService: an account's lists and those shared with it, their members, and the
rules of the owner (only they rename, delete or share a list) and of the Inbox (every
account has one; it cannot be deleted). Access is `webapp.lists.access`'s call.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from webapp.accounts.caller import Caller
from webapp.accounts.models import Account
from webapp.accounts.service import clean_email
from webapp.cache import CachedReads, ReadCache
from webapp.clock import utcnow
from webapp.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    StaleVersion,
    Unprocessable,
)
from webapp.events.changes import Change, Changes
from webapp.lists import access
from webapp.lists.models import LIST_NAME_MAX_LENGTH, ListMember, Role, TaskList
from webapp.lists.schemas import (
    ListCreate,
    ListRead,
    ListUpdate,
    MemberCreate,
    MemberRead,
    MemberUpdate,
)
from webapp.tasks.models import Task
from webapp.text import one_line

# Lists an account may own: enough for any person, a bound for a runaway script.
LISTS_MAX = 500
MEMBERS_MAX = 100


def clean_list_name(name: str) -> str:
    """A list's name as stored: the rules of a task's title (webapp.text.one_line)."""
    return one_line(name, "name", LIST_NAME_MAX_LENGTH)


class ListService:
    """The caller's lists. One instance per request (one session)."""

    def __init__(
        self,
        session: AsyncSession | Callable[[], AsyncSession],
        cache: ReadCache,
        caller: Caller,
        changes: Changes | None = None,
    ) -> None:
        self._session: AsyncSession | None = None
        self._open_session: Callable[[], AsyncSession] | None = None
        if isinstance(session, AsyncSession):
            self._session = session
        else:
            self._open_session = session
        self.caller = caller
        self.me = caller.account_id
        self.changes = changes or Changes(cache)
        self.reads = CachedReads(cache, caller.cache_scope, lambda: self._session)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            assert self._open_session is not None
            self._session = self._open_session()
        return self._session

    # ---------------------------------------------------------------- reads

    async def lists(self) -> list[ListRead]:
        """The caller's lists (the Inbox first, then by age) and then those shared with
        it (by name), each with its active count."""
        return await self.reads.value("lists", list[ListRead], self._load_lists)

    async def _load_lists(self) -> list[ListRead]:
        shared = await access.memberships(self.session, self.me)
        members = (
            select(ListMember.list_id, func.count().label("members"))
            .group_by(ListMember.list_id)
            .subquery()
        )
        active = (
            select(Task.list_id, func.count().label("active"))
            .where(Task.deleted_at.is_(None), Task.completed_at.is_(None))
            .where(
                Task.list_id.in_(
                    select(TaskList.id).where(TaskList.owner_id == self.me)
                ).self_group()
                | Task.list_id.in_(list(shared))
            )
            .group_by(Task.list_id)
            .subquery()
        )
        rows = await self.session.execute(
            select(
                TaskList,
                Account.name,
                Account.email,
                func.coalesce(members.c.members, 0),
                func.coalesce(active.c.active, 0),
            )
            .join(Account, Account.id == TaskList.owner_id)
            .outerjoin(members, members.c.list_id == TaskList.id)
            .outerjoin(active, active.c.list_id == TaskList.id)
            .where((TaskList.owner_id == self.me) | TaskList.id.in_(list(shared)))
            .order_by(
                case((TaskList.owner_id == self.me, 0), else_=1),
                TaskList.is_inbox.desc(),
                case((TaskList.owner_id == self.me, TaskList.created_at), else_=None),
                TaskList.name,
            )
        )
        result = []
        for task_list, owner_name, owner_email, member_count, active_count in rows:
            role = Role.OWNER if task_list.owner_id == self.me else shared[task_list.id]
            result.append(
                ListRead(
                    id=task_list.id,
                    name=task_list.name,
                    is_inbox=task_list.is_inbox,
                    role=role.value,
                    shared=bool(member_count),
                    owner_id=task_list.owner_id,
                    owner_name=owner_name or owner_email,
                    active=int(active_count),
                    created_at=task_list.created_at,
                    version=task_list.version,
                )
            )
        return result

    async def get(self, list_id: UUID) -> ListRead:
        """One list the caller may read."""
        for task_list in await self.lists():
            if task_list.id == list_id:
                return task_list
        raise NotFound(f"list {list_id} does not exist")

    async def inbox(self) -> UUID:
        for task_list in await self.lists():
            if task_list.is_inbox and task_list.role == "owner":
                return task_list.id
        return await access.inbox_of(self.session, self.me)

    async def members(self, list_id: UUID) -> list[MemberRead]:
        """Who the list is shared with (the owner first); anyone who may read it may ask."""
        await access.require(self.session, self.me, list_id)
        owner = await self.session.execute(
            select(Account.id, Account.email, Account.name)
            .join(TaskList, TaskList.owner_id == Account.id)
            .where(TaskList.id == list_id)
        )
        rows = await self.session.execute(
            select(Account.id, Account.email, Account.name, ListMember.role)
            .join(ListMember, ListMember.account_id == Account.id)
            .where(ListMember.list_id == list_id)
            .order_by(ListMember.created_at)
        )
        found = [MemberRead(account_id=i, email=e, name=n, role="owner") for i, e, n in owner.all()]
        found += [
            MemberRead(account_id=i, email=e, name=n, role=r)  # type: ignore[arg-type]
            for i, e, n, r in rows
        ]
        return found

    # ---------------------------------------------------------------- the owner's

    async def _publish(self, audience: set[UUID], list_id: UUID, *, access: bool = False) -> None:
        await self.changes.publish(Change.of(audience | {self.me}, [list_id], access=access))

    async def create(self, data: ListCreate) -> ListRead:
        name = clean_list_name(data.name)
        count = await self.session.scalar(
            select(func.count()).select_from(TaskList).where(TaskList.owner_id == self.me)
        )
        if (count or 0) >= LISTS_MAX:
            raise InvalidInput({"name": f"an account has at most {LISTS_MAX} lists"})
        now = utcnow()
        task_list = TaskList(
            owner_id=self.me, name=name, is_inbox=False, version=1, created_at=now, updated_at=now
        )
        self.session.add(task_list)
        await self.session.flush()
        list_id = task_list.id
        await self.session.commit()
        await self._publish(set(), list_id)
        return await self.get(list_id)

    async def rename(
        self,
        list_id: UUID,
        data: ListUpdate,
        *,
        expected_version: frozenset[int] | None = None,
    ) -> ListRead:
        """Rename a list (the owner only). The version in `data`, and `expected_version`
        (an If-Match header's: one of them must be it), must be the stored one, or
        StaleVersion is raised and nothing changes."""
        task_list = await access.require_owner(self.session, self.me, list_id)
        expectations = [(expected_version, True)] if expected_version is not None else []
        if isinstance(data.version, int):
            expectations.append((frozenset({data.version}), False))
        for versions, precondition in expectations:
            if task_list.version not in versions:
                raise StaleVersion(
                    f"version {', '.join(map(str, sorted(versions))) or '(none)'} is stale; "
                    f"the list is at version {task_list.version}",
                    current_version=task_list.version,
                    precondition=precondition,
                )
        if isinstance(data.name, str):
            name = clean_list_name(data.name)
            if name != task_list.name:
                task_list.name = name
                task_list.updated_at = utcnow()
                audience = await access.audience(self.session, list_id)
                try:
                    await self.session.commit()
                except StaleDataError:
                    await self.session.rollback()
                    raise StaleVersion(
                        "the list was changed by someone else; reload it and try again",
                        current_version=0,
                    ) from None
                await self._publish(audience, list_id)
        return await self.get(list_id)

    async def delete(self, list_id: UUID) -> int:
        """Delete a list (the owner only; not the Inbox). Its tasks go to the trash; a
        task restored later goes back to the owner's Inbox. Returns how many moved."""
        task_list = await access.require_owner(self.session, self.me, list_id)
        if task_list.is_inbox:
            raise Conflict("the Inbox cannot be deleted (it can be renamed)")
        audience = await access.audience(self.session, list_id)
        result = await self.session.execute(
            update(Task)
            .where(Task.list_id == list_id, Task.deleted_at.is_(None))
            .values(deleted_at=utcnow(), updated_at=utcnow(), version=Task.version + 1)
            .execution_options(synchronize_session=False)
        )
        await self.session.delete(task_list)
        await self.session.commit()
        await self._publish(audience, list_id, access=True)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def _account_by_email(self, email: str) -> UUID:
        try:
            cleaned = clean_email(email)
        except InvalidInput:
            raise Unprocessable({"email": "is not an email address"}) from None
        account_id = await self.session.scalar(
            select(Account.id).where(Account.email == cleaned, Account.disabled_at.is_(None))
        )
        if account_id is None:
            raise Unprocessable({"email": "no account here has this email"})
        return account_id

    async def share(self, list_id: UUID, data: MemberCreate) -> MemberRead:
        """Share the list with another account, as viewer or editor (the owner only)."""
        await access.require_owner(self.session, self.me, list_id)
        account_id = await self._account_by_email(data.email)
        if account_id == self.me:
            raise InvalidInput({"email": "is yours: you own this list"})
        existing = await self.session.get(ListMember, (list_id, account_id))
        if existing is not None:
            raise Conflict("the list is shared with this account already; change its role")
        count = await self.session.scalar(
            select(func.count()).select_from(ListMember).where(ListMember.list_id == list_id)
        )
        if (count or 0) >= MEMBERS_MAX:
            raise InvalidInput({"email": f"a list is shared with at most {MEMBERS_MAX} accounts"})
        self.session.add(
            ListMember(list_id=list_id, account_id=account_id, role=data.role, created_at=utcnow())
        )
        audience = await access.audience(self.session, list_id)
        await self.session.commit()
        await self._publish(audience | {account_id}, list_id, access=True)
        return await self._member(list_id, account_id)

    async def _member(self, list_id: UUID, account_id: UUID) -> MemberRead:
        for member in await self.members(list_id):
            if member.account_id == account_id:
                return member
        raise NotFound(f"account {account_id} is not a member of list {list_id}")

    async def _membership(self, list_id: UUID, account_id: UUID) -> ListMember:
        membership = await self.session.get(ListMember, (list_id, account_id))
        if membership is None:
            raise NotFound(f"account {account_id} is not a member of list {list_id}")
        return membership

    async def set_role(self, list_id: UUID, account_id: UUID, data: MemberUpdate) -> MemberRead:
        """Make a member a viewer or an editor (the owner only)."""
        await access.require_owner(self.session, self.me, list_id)
        membership = await self._membership(list_id, account_id)
        if membership.role != data.role:
            membership.role = data.role
            audience = await access.audience(self.session, list_id)
            await self.session.commit()
            await self._publish(audience, list_id, access=True)
        return await self._member(list_id, account_id)

    async def remove_member(self, list_id: UUID, account_id: UUID) -> None:
        """Revoke a member's access (the owner), or leave a list shared with you."""
        role = await access.require(self.session, self.me, list_id)
        if account_id != self.me and role is not Role.OWNER:
            raise Forbidden("only the list's owner may remove someone else from it")
        if account_id == self.me and role is Role.OWNER:
            raise Conflict("the owner cannot leave their own list (delete it instead)")
        membership = await self._membership(list_id, account_id)
        audience = await access.audience(self.session, list_id)
        await self.session.delete(membership)
        await self.session.commit()
        await self._publish(audience, list_id, access=True)


async def claim_unlisted(session: AsyncSession, account_id: UUID, inbox_id: UUID) -> None:
    """Tasks of the account without a list (from before lists) go to its Inbox."""
    await session.execute(
        update(Task)
        .where(and_(Task.owner_id == account_id, Task.list_id.is_(None)))
        .values(list_id=inbox_id)
        .execution_options(synchronize_session=False)
    )
