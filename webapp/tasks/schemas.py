"""Shapes of task data crossing the service boundary (and the JSON API)."""

from __future__ import annotations

import datetime
import enum
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from webapp.tasks.models import NOTES_MAX_LENGTH, TITLE_MAX_LENGTH

PriorityLabel = Literal["none", "low", "medium", "high"]

TITLE_DOC = f"1 to {TITLE_MAX_LENGTH} characters after trimming surrounding white space."
NOTES_DOC = f"At most {NOTES_MAX_LENGTH} characters."


class Status(enum.StrEnum):
    ALL = "all"
    ACTIVE = "active"
    COMPLETED = "completed"


class SortKey(enum.StrEnum):
    CREATED = "created"
    DUE = "due"
    PRIORITY = "priority"
    TITLE = "title"
    DELETED = "deleted"


class SortOrder(enum.StrEnum):
    ASC = "asc"
    DESC = "desc"


class TaskRead(msgspec.Struct, kw_only=True):
    """A task as readers see it. `completed_at` null = active; `deleted_at` set = in trash."""

    id: UUID
    title: str
    notes: str
    priority: PriorityLabel
    due_date: datetime.date | None
    completed_at: datetime.datetime | None
    deleted_at: datetime.datetime | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int

    @property
    def completed(self) -> bool:
        return self.completed_at is not None


class TaskPage(msgspec.Struct, kw_only=True):
    """One page of a task list plus the number of tasks matching the filters."""

    items: list[TaskRead]
    total: int
    limit: int
    offset: int


class TaskCounts(msgspec.Struct, kw_only=True):
    """How many live tasks are active and completed, and how many are in the trash."""

    active: int
    completed: int
    trash: int


class TaskCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(description=TITLE_DOC, examples=["Buy milk"])]
    notes: Annotated[str, msgspec.Meta(description=NOTES_DOC, examples=["Semi-skimmed"])] = ""
    priority: PriorityLabel = "none"
    due_date: Annotated[
        datetime.date | None, msgspec.Meta(description="ISO date, e.g. 2026-12-24")
    ] = None


class TaskUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A partial update: fields left out keep their value.

    `version`, when given (or sent as an `If-Match` ETag), must equal the stored version;
    otherwise the update is refused so that nobody's edit is silently overwritten.
    """

    title: Annotated[str, msgspec.Meta(description=TITLE_DOC)] | msgspec.UnsetType = msgspec.UNSET
    notes: Annotated[str, msgspec.Meta(description=NOTES_DOC)] | msgspec.UnsetType = msgspec.UNSET
    priority: PriorityLabel | msgspec.UnsetType = msgspec.UNSET
    due_date: datetime.date | msgspec.UnsetType | None = msgspec.UNSET
    completed: bool | msgspec.UnsetType = msgspec.UNSET
    version: int | msgspec.UnsetType = msgspec.UNSET


class TaskQuery(msgspec.Struct, kw_only=True, frozen=True):
    """What a list read asks for. Frozen and hashable: it is part of the cache key."""

    status: Status = Status.ALL
    trash: bool = False
    q: str = ""
    sort: SortKey = SortKey.CREATED
    order: SortOrder = SortOrder.DESC
    limit: int = 50
    offset: int = 0

    def cache_key(self) -> str:
        return (
            f"list:{self.status.value}:{int(self.trash)}:{self.sort.value}:{self.order.value}:"
            f"{self.limit}:{self.offset}:{self.q}"
        )


class BulkResult(msgspec.Struct, kw_only=True):
    """How many tasks a bulk action changed."""

    affected: int
