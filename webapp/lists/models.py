"""The `task_list` and `list_member` tables (migration 0006)."""

from __future__ import annotations

import datetime
import enum
from uuid import UUID

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import GUID
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.accounts.models import Account  # noqa: F401  (the table owner_id points at)
from webapp.clock import utcnow
from webapp.db import AuditedBase, Timestamp

LIST_NAME_MAX_LENGTH = 200
INBOX_NAME = "Inbox"


class Role(enum.StrEnum):
    """What someone may do with a list. Only the owner renames, deletes or shares it."""

    OWNER = "owner"
    EDITOR = "editor"  # adds, edits, completes, deletes and restores its tasks
    VIEWER = "viewer"  # reads only

    @property
    def writes(self) -> bool:
        return self in (Role.OWNER, Role.EDITOR)


class TaskList(AuditedBase):
    """A list of tasks. Each account has one Inbox (`is_inbox`): renamable, not deletable,
    where tasks go when no list is named."""

    __tablename__ = "task_list"
    __table_args__ = (Index("ix_task_list_owner", "owner_id", "created_at"),)

    owner_id: Mapped[UUID] = mapped_column(
        GUID(length=16), ForeignKey("account.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(LIST_NAME_MAX_LENGTH))
    is_inbox: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @classmethod
    def inbox_for(cls, account_id: UUID) -> TaskList:
        """A new account's Inbox."""
        now = utcnow()
        return cls(
            owner_id=account_id,
            name=INBOX_NAME,
            is_inbox=True,
            version=1,
            created_at=now,
            updated_at=now,
        )


class ListMember(DefaultBase):
    """Someone a list is shared with, and as what."""

    __tablename__ = "list_member"
    __table_args__ = (Index("ix_list_member_account", "account_id"),)

    list_id: Mapped[UUID] = mapped_column(
        GUID(length=16), ForeignKey("task_list.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[UUID] = mapped_column(
        GUID(length=16), ForeignKey("account.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime.datetime] = mapped_column(Timestamp(timezone=True))
