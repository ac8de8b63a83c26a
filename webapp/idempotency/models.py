"""The `idempotency_key` table: one row per (caller, key) for 24 hours."""

from __future__ import annotations

import datetime

from advanced_alchemy.base import DefaultBase
from sqlalchemy import Index, Integer, LargeBinary, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import Timestamp

KEY_MAX_LENGTH = 255
CALLER_MAX_LENGTH = 64
# A response body up to 16 MiB (MySQL's BLOB stops at 64 KiB; a task's notes alone may
# take 40 KB of UTF-8).
Body = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


class IdempotencyRecord(DefaultBase):
    """A request made with an Idempotency-Key, and its answer once there is one.

    `status_code` is null while the first request is being answered.
    """

    __tablename__ = "idempotency_key"
    __table_args__ = (Index("ix_idempotency_key_expires", "expires_at"),)

    caller: Mapped[str] = mapped_column(String(CALLER_MAX_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH), primary_key=True)
    # SHA-256 of the request (method, path, query, body), hex.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    # Set by the request's own transaction when its change commits (see mark_applied).
    applied_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )
    # The response's headers as JSON [[name, value], ...], and its body.
    response_headers: Mapped[str | None] = mapped_column(Text, default=None)
    response_body: Mapped[bytes | None] = mapped_column(Body, default=None)
    created_at: Mapped[datetime.datetime] = mapped_column(Timestamp(timezone=True))
    expires_at: Mapped[datetime.datetime] = mapped_column(Timestamp(timezone=True))
