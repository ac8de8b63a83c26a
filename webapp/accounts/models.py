"""The `account`, `api_token` and `invite` tables (migration 0005)."""

from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.types import GUID
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import AuditedBase, Timestamp

EMAIL_MAX_LENGTH = 254  # RFC 5321's limit on a path
NAME_MAX_LENGTH = 100
TOKEN_NAME_MAX_LENGTH = 100
# SHA-256, hex: tokens and invite links are stored only as their hash.
HASH_LENGTH = 64


class Account(AuditedBase):
    """A person who signs in. `email` is stored lower-cased and trimmed (unique)."""

    __tablename__ = "account"

    # Compared byte for byte: MySQL's default collation would take "vïctim@" for "victim@",
    # letting look-alikes in and past the log-in throttle. Emails are stored normalised
    # (webapp.accounts.service.clean_email), so equal addresses are equal bytes.
    email: Mapped[str] = mapped_column(
        String(EMAIL_MAX_LENGTH).with_variant(
            mysql.VARCHAR(EMAIL_MAX_LENGTH, collation="utf8mb4_bin"), "mysql", "mariadb"
        ),
        unique=True,
    )
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )
    # True for the first account made (the admin of a new installation), null for every
    # other: unique, so of two sign-ups racing on an empty database only one is first.
    first_account: Mapped[bool | None] = mapped_column(Boolean, unique=True, default=None)
    # Sessions carry the epoch they were made in; changing the password moves it on,
    # which ends every session made before (but the one that changed it).
    session_epoch: Mapped[int] = mapped_column(Integer, default=1)


class ApiToken(AuditedBase):
    """A personal API token: shown once at creation, stored only as its hash."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_account", "account_id", "created_at"),)

    account_id: Mapped[UUID] = mapped_column(
        GUID(length=16), ForeignKey("account.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(TOKEN_NAME_MAX_LENGTH))
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    # The token's first characters, to tell tokens apart in a list ("tsk_a1b2c3…").
    hint: Mapped[str] = mapped_column(String(16))
    last_used_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )


class Invite(AuditedBase):
    """A single-use sign-up link, valid for a week unless revoked."""

    __tablename__ = "invite"
    __table_args__ = (Index("ix_invite_created_by", "created_by", "created_at"),)

    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    created_by: Mapped[UUID] = mapped_column(
        GUID(length=16), ForeignKey("account.id", ondelete="CASCADE")
    )
    expires_at: Mapped[datetime.datetime] = mapped_column(Timestamp(timezone=True))
    used_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )
    used_by: Mapped[UUID | None] = mapped_column(
        GUID(length=16), ForeignKey("account.id", ondelete="SET NULL"), default=None
    )
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )
