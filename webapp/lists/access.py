"""Who may do what with a list, and whose views a change to it touches: the one policy
of lists, which the task and list services both apply.

- the owner reads, writes tasks, renames, deletes and shares;
- an editor reads and writes tasks (adds, edits, completes, deletes, restores);
- a viewer reads;
- anyone else does not know the list exists (NotFound). Someone who may see a list but
  not do what they ask gets Forbidden (403).
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.errors import Forbidden, NotFound
from webapp.lists.models import ListMember, Role, TaskList


async def role_of(session: AsyncSession, account_id: UUID, list_id: UUID) -> Role | None:
    """The account's role on the list, or None (a stranger, or no such list)."""
    row = (
        await session.execute(
            select(TaskList.owner_id, ListMember.role)
            .outerjoin(
                ListMember,
                (ListMember.list_id == TaskList.id) & (ListMember.account_id == account_id),
            )
            .where(TaskList.id == list_id)
        )
    ).one_or_none()
    if row is None:
        return None
    owner_id, member_role = row
    if owner_id == account_id:
        return Role.OWNER
    return Role(member_role) if member_role else None


async def require(
    session: AsyncSession, account_id: UUID, list_id: UUID, *, write: bool = False
) -> Role:
    """The caller's role on the list, if it may read it (and, with `write`, change its
    tasks); NotFound for a stranger, Forbidden for a viewer asked to write."""
    role = await role_of(session, account_id, list_id)
    if role is None:
        raise NotFound(f"list {list_id} does not exist")
    if write and not role.writes:
        raise Forbidden(
            "you may read this list, not change it (ask its owner to make you an editor)"
        )
    return role


async def require_owner(session: AsyncSession, account_id: UUID, list_id: UUID) -> TaskList:
    """The list, if the caller owns it: only the owner renames, deletes or shares it."""
    role = await require(session, account_id, list_id)
    if role is not Role.OWNER:
        raise Forbidden("only the list's owner may do this")
    task_list = await session.get(TaskList, list_id, populate_existing=True)
    assert task_list is not None
    return task_list


async def memberships(session: AsyncSession, account_id: UUID) -> dict[UUID, Role]:
    """The lists shared with the account (not its own), and its role on each."""
    rows = await session.execute(
        select(ListMember.list_id, ListMember.role).where(ListMember.account_id == account_id)
    )
    return {list_id: Role(role) for list_id, role in rows}


async def audience(session: AsyncSession, list_id: UUID) -> set[UUID]:
    """Everyone who sees the list: its owner and its members."""
    owner = await session.scalar(select(TaskList.owner_id).where(TaskList.id == list_id))
    members = await session.scalars(
        select(ListMember.account_id).where(ListMember.list_id == list_id)
    )
    return {*members, *([owner] if owner is not None else [])}


async def owner_of(session: AsyncSession, list_id: UUID) -> UUID:
    owner = await session.scalar(select(TaskList.owner_id).where(TaskList.id == list_id))
    if owner is None:
        raise NotFound(f"list {list_id} does not exist")
    return owner


async def audience_of_account(session: AsyncSession, account_id: UUID) -> set[UUID]:
    """Everyone who sees any list the account sees: whose views a change to all of its
    tasks (a bulk action, a restore of its whole trash) may touch."""
    own = select(TaskList.id).where(TaskList.owner_id == account_id)
    shared = select(ListMember.list_id).where(ListMember.account_id == account_id)
    members = await session.scalars(
        select(ListMember.account_id).where(
            ListMember.list_id.in_(own) | ListMember.list_id.in_(shared)
        )
    )
    owners = await session.scalars(select(TaskList.owner_id).where(TaskList.id.in_(shared)))
    return {account_id, *members, *owners}


async def inbox_of(session: AsyncSession, account_id: UUID) -> UUID:
    inbox = await session.scalar(
        select(TaskList.id).where(TaskList.owner_id == account_id, TaskList.is_inbox.is_(True))
    )
    if inbox is None:  # every account gets one at sign-up (and migration 0006)
        raise NotFound("this account has no Inbox")
    return inbox
