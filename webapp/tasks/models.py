"""The `task` table. Alembic migrations own its schema; this mapping must match them."""

from __future__ import annotations

import datetime
import enum
from uuid import UUID

from advanced_alchemy.types import GUID
from sqlalchemy import Date, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

# The table `owner_id` points at: mapped wherever these are, or no row could be written.
from webapp.accounts.models import Account  # noqa: F401
from webapp.db import AuditedBase, Timestamp
from webapp.lists.models import TaskList  # noqa: F401

TITLE_MAX_LENGTH = 200
NOTES_MAX_LENGTH = 10_000


class Priority(enum.IntEnum):
    """Stored as a small integer so that sorting by priority is sorting by number."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Priority:
        return cls[label.upper()]


class Task(AuditedBase):
    """A task. `completed_at` null = active; `deleted_at` not null = in the trash."""

    __tablename__ = "task"
    # Every list query filters on the owner and on `deleted_at` (live vs trash) first,
    # then orders by one of the offered sort keys; `id` ends each index so the tie-break
    # is served too. One account's list reads only that account's part of each index,
    # however many tasks others have.
    __table_args__ = (
        # A list's own view: the same four orders, and its counts, within one list.
        Index("ix_task_list_created", "list_id", "deleted_at", "created_at", "id"),
        Index("ix_task_list_due", "list_id", "deleted_at", "due_date", "id"),
        Index("ix_task_list_priority", "list_id", "deleted_at", "priority", "id"),
        Index("ix_task_list_title", "list_id", "deleted_at", "title", "id"),
        Index("ix_task_list_state", "list_id", "deleted_at", "completed_at"),
        # "All tasks" of an account, its trash, its counts.
        Index("ix_task_live_created", "owner_id", "deleted_at", "created_at", "id"),
        Index("ix_task_live_due", "owner_id", "deleted_at", "due_date", "id"),
        Index("ix_task_live_priority", "owner_id", "deleted_at", "priority", "id"),
        Index("ix_task_live_title", "owner_id", "deleted_at", "title", "id"),
        Index("ix_task_trash", "owner_id", "deleted_at", "id"),
        # Serves the counts (active/completed, trash) from the index alone.
        Index("ix_task_state", "owner_id", "deleted_at", "completed_at"),
    )

    # The owner of the task's list (who may see it in the trash once its list is gone).
    # Null only for tasks made before accounts existed, until the first account claims
    # them (migration 0005, `AccountService.sign_up`).
    owner_id: Mapped[UUID | None] = mapped_column(
        GUID(length=16), ForeignKey("account.id", ondelete="CASCADE"), default=None
    )
    # Every live task is in a list. Null for a task in the trash whose list was deleted
    # (restoring it puts it in its owner's Inbox), and for unclaimed tasks from before.
    list_id: Mapped[UUID | None] = mapped_column(
        GUID(length=16), ForeignKey("task_list.id", ondelete="SET NULL"), default=None
    )

    # Titles sort as people read them, whatever the case: MySQL's default collation already
    # ignores case; SQLite's needs NOCASE (on the column, so that the title index serves it).
    title: Mapped[str] = mapped_column(
        String(TITLE_MAX_LENGTH).with_variant(
            String(TITLE_MAX_LENGTH, collation="NOCASE"), "sqlite"
        )
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[int] = mapped_column(SmallInteger, default=Priority.NONE)
    due_date: Mapped[datetime.date | None] = mapped_column(Date, default=None)
    completed_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )
    deleted_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )
    version: Mapped[int] = mapped_column(Integer, default=1)

    # SQLAlchemy adds `AND version = :old` to every ORM UPDATE and bumps it, so two
    # writers that read the same version cannot both win.
    __mapper_args__ = {"version_id_col": version}
