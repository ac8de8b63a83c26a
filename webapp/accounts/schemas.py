"""Shapes of account data crossing the service boundary (and the JSON API's /api/me)."""

from __future__ import annotations

import datetime
from typing import Literal
from uuid import UUID

import msgspec


class AccountRead(msgspec.Struct, kw_only=True):
    """An account as its owner (and the admin) sees it; never its password hash."""

    id: UUID
    email: str
    name: str
    is_admin: bool
    disabled: bool
    created_at: datetime.datetime

    @property
    def display_name(self) -> str:
        return self.name or self.email


class SignUp(msgspec.Struct, kw_only=True):
    email: str
    password: str
    name: str = ""
    # The secret of an invite link, when sign-up needs one.
    invite: str = ""


class ApiTokenRead(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    hint: str
    created_at: datetime.datetime
    last_used_at: datetime.datetime | None


class ApiTokenCreated(msgspec.Struct, kw_only=True):
    """A new token: `secret` is shown this once and stored only as its hash."""

    token: ApiTokenRead
    secret: str


InviteState = Literal["open", "used", "expired", "revoked"]


class InviteRead(msgspec.Struct, kw_only=True):
    id: UUID
    created_at: datetime.datetime
    expires_at: datetime.datetime
    state: InviteState
    used_by: str | None  # the email of whoever signed up with it


class InviteCreated(msgspec.Struct, kw_only=True):
    """A new invite: `secret` (in its link) is shown this once."""

    invite: InviteRead
    secret: str
