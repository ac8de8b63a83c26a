"""Shapes of restore-job data crossing the service boundary (and the JSON API)."""

from __future__ import annotations

import datetime
import enum
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

import msgspec

from webapp.jobs.models import JobStatus
from webapp.tasks.schemas import JSONBool

# One job restores at most this many explicitly chosen tasks ("all" has no limit).
RESTORE_MAX_IDS = 10_000

StatusLabel = Literal["queued", "running", "done", "failed"]
ScopeLabel = Literal["selected", "all"]


class RestoreScope(enum.StrEnum):
    """What a job restores: the tasks it was given (its items), or the whole trash."""

    SELECTED = "selected"
    ALL = "all"


class RestoreJobCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Either `ids` (the tasks to restore) or `all: true` (everything in the trash)."""

    # The rule the field types cannot say, for the API document (webapp.web.openapi).
    openapi_one_of: ClassVar[list[dict[str, Any]]] = [
        {
            "required": ["ids"],
            "properties": {"ids": {"type": "array"}, "all": {"const": False}},
        },
        {
            "required": ["all"],
            "properties": {"all": {"const": True}, "ids": {"type": "null"}},
        },
    ]

    ids: (
        Annotated[
            list[UUID],
            msgspec.Meta(
                min_length=1,
                max_length=RESTORE_MAX_IDS,
                description=(
                    f"1 to {RESTORE_MAX_IDS} task ids; duplicates count once. Ids of unknown "
                    "tasks or of tasks not in the trash are counted as skipped."
                ),
            ),
        ]
        | None
    ) = None
    all: Annotated[
        JSONBool,
        msgspec.Meta(
            description="Restore every task in the trash deleted before the job was created."
        ),
    ] = False


class RestoreJobRead(msgspec.Struct, kw_only=True):
    """A restore job and how far it has got. `restored + skipped` reaches `total` when done."""

    id: UUID
    status: StatusLabel
    scope: ScopeLabel
    total: int
    restored: int
    skipped: int
    percent: Annotated[int, msgspec.Meta(ge=0, le=100)]
    error: str | None
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    updated_at: datetime.datetime
    duration_seconds: Annotated[
        float | None, msgspec.Meta(description="From start to finish, once finished")
    ]

    @property
    def finished(self) -> bool:
        return JobStatus(self.status).finished
