"""The `job` and `job_item` tables: every background job, whatever its kind.

A job's row is its whole state: what was asked (`params`), how far it has got (`done`,
`skipped`, and `cursor`, where the next batch starts), who is working on it (the lease),
and when. A worker changes it in the same transaction as each batch of work, so the row
never claims more or less than the data shows.

The lease: a delivery of the job's message takes it (`lease_owner`, `lease_expires_at`)
with a conditional UPDATE before working, renews it while working, and checks it in the
transaction of every batch. Two deliveries of one job therefore take turns on every
database (a row lock alone does nothing on SQLite), and a job whose worker died is taken
over once its lease has expired (see `webapp.jobs.runner`).
"""

from __future__ import annotations

import datetime
import enum
from typing import Any
from uuid import UUID

import msgspec
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import GUID
from sqlalchemy import Dialect, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# The table `owner_id` points at: mapped wherever these are, or no row could be written.
from webapp.accounts.models import Account  # noqa: F401
from webapp.db import AuditedBase, Timestamp

ERROR_MAX_LENGTH = 2000
LEASE_OWNER_LENGTH = 64


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED)


UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


class JSONText(TypeDecorator[Any]):
    """A JSON value stored as text: the same column type on every database (MySQL's and
    MariaDB's JSON types differ, and reflect differently)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else msgspec.json.encode(value).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else msgspec.json.decode(value)


class Job(AuditedBase):
    """One background job. `kind` says which actor runs it (e.g. "restore")."""

    __tablename__ = "job"
    # Finds what the sweep re-sends: unfinished jobs, by when they last changed.
    __table_args__ = (
        Index("ix_job_status_updated", "status", "updated_at"),
        Index("ix_job_owner", "owner_id", "created_at"),
    )

    # Whose job it is: only they see it, and it acts on their data only. Null only for
    # jobs made before accounts existed (see Task.owner_id).
    owner_id: Mapped[UUID | None] = mapped_column(
        GUID(length=16), ForeignKey("account.id", ondelete="CASCADE"), default=None
    )
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default=JobStatus.QUEUED.value)
    # What the job is about, what it has done, and what it has passed over.
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    # What was asked (set at creation, then only read), and the kind's own progress marker.
    params: Mapped[dict[str, Any]] = mapped_column(JSONText)
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSONText, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(LEASE_OWNER_LENGTH), default=None)
    lease_expires_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )
    started_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )
    finished_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp(timezone=True), default=None
    )


class JobItem(DefaultBase):
    """Something a job was asked to handle, by id (a restore job's chosen tasks).

    A table rather than a JSON list: a worker walks it in batches by id on the primary
    key (keyset), reading a few thousand at a time instead of the whole list.
    """

    __tablename__ = "job_item"

    job_id: Mapped[UUID] = mapped_column(
        GUID(length=16), ForeignKey("job.id", ondelete="CASCADE"), primary_key=True
    )
    # No foreign key to what it names: a task purged after the job was made leaves its
    # item behind, and the job counts it as skipped.
    item_id: Mapped[UUID] = mapped_column(GUID(length=16), primary_key=True)


# A part holds at most this many bytes (MEDIUMBLOB on MySQL: 16 MiB).
PART_MAX_BYTES = 16 * 1024 * 1024 - 1


class JobPart(DefaultBase):
    """A piece of what a job was given, as bytes its kind encodes and decodes (an import
    job's records, a few hundred per part, and its report).

    The database is the only storage the app and the workers share: a request stores
    the parts with the job's row, and a worker reads one part per batch (by `part`, on
    the primary key), so neither holds more than a part of a large input in memory.
    """

    __tablename__ = "job_part"

    job_id: Mapped[UUID] = mapped_column(
        GUID(length=16), ForeignKey("job.id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(
        LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")
    )


def percent_done(status: str, total: int, handled: int) -> int:
    """Whole percent of a job handled (done or skipped); 100 once it is done."""
    if status == JobStatus.DONE:
        return 100
    if total <= 0:
        return 0
    return min(100 * handled // total, 100)
