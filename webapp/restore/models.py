"""The `restore_job` and `restore_job_item` tables. Migration 0002 creates them.

A job's row is its whole state: what was asked, how far the worker has got (the counts,
and the keyset cursor where the next batch starts), and when. The worker changes it in
the same transaction as each batch of tasks it restores, so the row never claims more or
less than the task table shows.
"""

from __future__ import annotations

import datetime
import enum
from uuid import UUID

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import GUID
from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import AuditedBase, Timestamp

# One job restores at most this many explicitly chosen tasks ("all" has no limit).
RESTORE_MAX_IDS = 10_000
ERROR_MAX_LENGTH = 2000


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED)


class JobScope(enum.StrEnum):
    """What a job restores: the tasks listed in `restore_job_item`, or the whole trash."""

    SELECTED = "selected"
    ALL = "all"


class RestoreJob(AuditedBase):
    """One bulk restore. `created_at` is also the cutoff: only tasks deleted at or before it
    are restored, so whatever is deleted after the request stays in the trash."""

    __tablename__ = "restore_job"
    # Finds the jobs to re-send (`python -m webapp requeue-jobs`): unfinished, not updated
    # for a while.
    __table_args__ = (Index("ix_restore_job_status_updated", "status", "updated_at"),)

    status: Mapped[str] = mapped_column(String(10), default=JobStatus.QUEUED.value)
    scope: Mapped[str] = mapped_column(String(10))
    # Tasks the job is about: the distinct ids asked for, or the trash at creation.
    total: Mapped[int] = mapped_column(Integer, default=0)
    restored: Mapped[int] = mapped_column(Integer, default=0)
    # Asked for but not restored: unknown, not in the trash, or taken out of it (restored
    # or purged by someone else) before the worker got to them.
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    # The cursor: the next batch starts after the last task handled, that is after
    # `last_task_id` among the job's items ("selected"), or after (`last_deleted_at`,
    # `last_task_id`) in the trash's (deleted_at, id) order ("all").
    last_task_id: Mapped[UUID | None] = mapped_column(GUID(length=16), default=None)
    last_deleted_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )
    finished_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )


class RestoreJobItem(DefaultBase):
    """A task chosen for a job (only those in the trash when the job was created).

    A table rather than a JSON column: the worker walks it in batches by task id on the
    primary key (keyset), reading a few thousand ids at a time instead of the whole list,
    and every supported database indexes it the same way.
    """

    __tablename__ = "restore_job_item"

    job_id: Mapped[UUID] = mapped_column(
        GUID(length=16), ForeignKey("restore_job.id", ondelete="CASCADE"), primary_key=True
    )
    # No foreign key to `task`: a task purged after the job was made leaves its item
    # behind, and the worker counts it as skipped.
    task_id: Mapped[UUID] = mapped_column(GUID(length=16), primary_key=True)
