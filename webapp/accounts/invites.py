"""Invite links: single use, valid for INVITE_DAYS, revocable, stored only as a hash.

Who may make them follows REGISTRATION: with `invite` any account may; otherwise only the
admin. Anyone else gets NotFound, as if the page were not there.
"""

from __future__ import annotations

import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from webapp.accounts import secrets
from webapp.accounts.caller import Caller
from webapp.accounts.models import Account, Invite
from webapp.accounts.schemas import InviteCreated, InviteRead, InviteState
from webapp.clock import utcnow
from webapp.errors import InvalidInput, NotFound
from webapp.settings import Registration

INVITE_DAYS = 7
INVITE_PATH = "/invites/"
UNUSABLE = "this invite link is not valid: it was used, revoked or has expired"
# How many invites the page lists (the newest).
LISTED = 50


def state(invite: Invite, now: datetime.datetime) -> InviteState:
    if invite.used_at is not None:
        return "used"
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= now:
        return "expired"
    return "open"


async def usable(session: AsyncSession, secret: str) -> Invite:
    """The open invite whose link holds `secret`; InvalidInput if there is none."""
    if not secret:
        raise InvalidInput({"invite": "sign-up needs an invite link; ask the admin for one"})
    if not secrets.looks_like(secret, secrets.INVITE_PREFIX):
        raise InvalidInput({"invite": UNUSABLE})
    # An invite of a disabled account is void (as is everything else it made).
    invite = await session.scalar(
        select(Invite)
        .join(Account, Account.id == Invite.created_by)
        .where(Invite.token_hash == secrets.digest(secret), Account.disabled_at.is_(None))
    )
    if invite is None or state(invite, utcnow()) != "open":
        raise InvalidInput({"invite": UNUSABLE})
    return invite


async def use(
    session: AsyncSession, invite: Invite, account_id: UUID, now: datetime.datetime
) -> None:
    """Mark the invite used by `account_id`, in the sign-up's transaction. Conditional, so
    that of two sign-ups racing with one link only one succeeds."""
    result = await session.execute(
        update(Invite)
        .where(
            Invite.id == invite.id,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
        )
        .values(used_at=now, used_by=account_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise InvalidInput({"invite": UNUSABLE})


class InviteService:
    """The invites a caller made: create, list, revoke."""

    def __init__(self, session: AsyncSession, caller: Caller, registration: Registration) -> None:
        self.session = session
        self.caller = caller
        self.registration = registration

    async def may_invite(self) -> bool:
        if self.registration is Registration.INVITE:
            return True
        account = await self.session.get(Account, self.caller.account_id)
        return account is not None and account.is_admin

    async def _check(self) -> None:
        if not await self.may_invite():
            raise NotFound("there is nothing here")

    async def create(self) -> InviteCreated:
        await self._check()
        new = secrets.new_secret(secrets.INVITE_PREFIX)
        now = utcnow()
        invite = Invite(
            token_hash=new.digest,
            created_by=self.caller.account_id,
            expires_at=now + datetime.timedelta(days=INVITE_DAYS),
            created_at=now,
            updated_at=now,
        )
        self.session.add(invite)
        await self.session.flush()
        created = InviteCreated(invite=self._read(invite, None, now), secret=new.secret)
        await self.session.commit()
        return created

    @staticmethod
    def _read(invite: Invite, used_by: str | None, now: datetime.datetime) -> InviteRead:
        return InviteRead(
            id=invite.id,
            created_at=invite.created_at,
            expires_at=invite.expires_at,
            state=state(invite, now),
            used_by=used_by,
        )

    async def list(self) -> list[InviteRead]:
        """The caller's invites, newest first."""
        await self._check()
        user = aliased(Account)
        rows = await self.session.execute(
            select(Invite, user.email)
            .outerjoin(user, user.id == Invite.used_by)
            .where(Invite.created_by == self.caller.account_id)
            .order_by(Invite.created_at.desc())
            .limit(LISTED)
        )
        now = utcnow()
        return [self._read(invite, email, now) for invite, email in rows]

    async def revoke(self, invite_id: UUID) -> None:
        """Revoke one of the caller's open invites (a used one stays used)."""
        await self._check()
        invite = await self.session.scalar(
            select(Invite).where(
                Invite.id == invite_id, Invite.created_by == self.caller.account_id
            )
        )
        if invite is None:
            raise NotFound(f"invite {invite_id} does not exist")
        if invite.used_at is None and invite.revoked_at is None:
            invite.revoked_at = invite.updated_at = utcnow()
        await self.session.commit()
