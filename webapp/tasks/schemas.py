"""Shapes of task data crossing the service boundary (and the JSON API)."""

from __future__ import annotations

import datetime
import enum
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from webapp.tasks.models import NOTES_MAX_LENGTH, TITLE_MAX_LENGTH
from webapp.text import NOTES_PATTERN, TITLE_PATTERN

PriorityLabel = Literal["none", "low", "medium", "high"]
# A JSON boolean, and nothing else: Litestar converts request bodies leniently, which
# would take 0, 1 or "true" for a bool; a Literal of the two values is checked strictly.
JSONBool = Literal[True, False]

TITLE_DOC = (
    f"1 to {TITLE_MAX_LENGTH} characters, something visible among them and no control "
    "character; surrounding white space is trimmed."
)
NOTES_DOC = (
    f"At most {NOTES_MAX_LENGTH} characters; line breaks and tabs, no other control character."
)

# Field types with the description and example the OpenAPI document shows for them.
TaskId = Annotated[
    UUID,
    msgspec.Meta(
        description="UUIDv7 (time-ordered)", examples=["01938c5e-8a4b-7c2d-9e0f-123456789abc"]
    ),
]
# The constraints are checked when a JSON body is decoded, and stated in the API document;
# the service checks the same (webapp.text), for the forms too.
Title = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=TITLE_MAX_LENGTH,
        pattern=TITLE_PATTERN,
        description=TITLE_DOC,
        examples=["Buy milk"],
    ),
]
Notes = Annotated[
    str,
    msgspec.Meta(
        max_length=NOTES_MAX_LENGTH,
        pattern=NOTES_PATTERN,
        description=NOTES_DOC,
        examples=["Semi-skimmed, 2 litres"],
    ),
]
PriorityChoice = Annotated[
    PriorityLabel, msgspec.Meta(description="none, low, medium or high", examples=["high"])
]
DueDate = Annotated[
    datetime.date, msgspec.Meta(description="ISO date, e.g. 2026-12-24", examples=["2026-12-24"])
]
Instant = Annotated[
    datetime.datetime, msgspec.Meta(description="UTC, ISO 8601", examples=["2026-11-26T09:30:00Z"])
]
Version = Annotated[
    int,
    msgspec.Meta(
        description="Bumped by every change; send it back (or as If-Match) when editing",
        examples=[3],
    ),
]
Count = Annotated[int, msgspec.Meta(examples=[12])]


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

    id: TaskId
    list_id: Annotated[
        UUID | None,
        msgspec.Meta(
            description="The list it is in (null: in the trash, its list deleted)",
            examples=["01938c5e-8a4b-7c2d-9e0f-123456789abd"],
        ),
    ]
    title: Title
    notes: Notes
    priority: PriorityChoice
    due_date: DueDate | None
    completed_at: Instant | None
    deleted_at: Instant | None
    created_at: Instant
    updated_at: Instant
    version: Version


class TaskPage(msgspec.Struct, kw_only=True):
    """One page of a task list plus the number of tasks matching the filters."""

    items: list[TaskRead]
    total: Annotated[int, msgspec.Meta(description="Tasks matching, on all pages", examples=[120])]
    limit: Annotated[int, msgspec.Meta(examples=[50])]
    offset: Annotated[int, msgspec.Meta(examples=[0])]


class TaskCounts(msgspec.Struct, kw_only=True):
    """How many live tasks are active and completed, and how many are in the trash."""

    active: Count
    completed: Count
    trash: Count


ListId = Annotated[
    UUID,
    msgspec.Meta(
        description="A list you own or edit", examples=["01938c5e-8a4b-7c2d-9e0f-123456789abd"]
    ),
]


class TaskCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new task; `list_id` says where (default: your Inbox)."""

    title: Title
    list_id: ListId | None = None
    notes: Notes = ""
    priority: PriorityChoice = "none"
    due_date: DueDate | None = None


class TaskUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A partial update: fields left out keep their value.

    `version`, when given (or sent as an `If-Match` ETag), must equal the stored version;
    otherwise the update is refused so that nobody's edit is silently overwritten.
    """

    title: Title | msgspec.UnsetType = msgspec.UNSET
    # Moves the task to another list (one you own or edit).
    list_id: ListId | msgspec.UnsetType = msgspec.UNSET
    notes: Notes | msgspec.UnsetType = msgspec.UNSET
    priority: PriorityChoice | msgspec.UnsetType = msgspec.UNSET
    due_date: DueDate | msgspec.UnsetType | None = msgspec.UNSET
    completed: (
        Annotated[
            JSONBool, msgspec.Meta(description="true completes, false reopens", examples=[True])
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    version: Version | msgspec.UnsetType = msgspec.UNSET


class TaskQuery(msgspec.Struct, kw_only=True, frozen=True):
    """What a list read asks for. Frozen and hashable: it is part of the cache key."""

    status: Status = Status.ALL
    trash: bool = False
    # One list's tasks; None: every list the caller may read ("All tasks").
    list_id: UUID | None = None
    q: str = ""
    sort: SortKey = SortKey.CREATED
    order: SortOrder = SortOrder.DESC
    limit: int = 50
    offset: int = 0

    def cache_key(self) -> str:
        return (
            f"list:{self.list_id.hex if self.list_id else 'all'}:{self.status.value}:"
            f"{int(self.trash)}:{self.sort.value}:{self.order.value}:"
            f"{self.limit}:{self.offset}:{self.q}"
        )


class BulkResult(msgspec.Struct, kw_only=True):
    """How many tasks a bulk action changed."""

    affected: Annotated[int, msgspec.Meta(examples=[3])]
