"""Shapes of import jobs crossing the service boundary (and the JSON API)."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from litestar.params import QueryParameter

from webapp.jobs.models import JobStatus

StatusLabel = Literal["queued", "running", "done", "failed"]
ExportFormat = Literal["json", "csv", "ics"]
FormatChoice = Annotated[ExportFormat, QueryParameter(description="json, csv or ics")]
ListChoice = Annotated[
    UUID | None,
    QueryParameter(name="list", description="One list you may read; absent: all you own"),
]
TrashChoice = Annotated[
    bool, QueryParameter(description="Add your trash (the JSON export carries it)")
]


class ImportProblem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Something wrong (or read with a loss) in the file, and where: `location` in words,
    and the parts it is made of as the format has them."""

    location: str
    message: str
    line: int | None = None
    column: str | None = None
    component: int | None = None
    property: str | None = None
    path: str | None = None


class ImportJobRead(msgspec.Struct, kw_only=True):
    """An import job and how far it has got. `imported + skipped` reaches `total` when
    done; `skipped` counts the tasks already there (imported before: no duplicates)."""

    id: UUID
    status: StatusLabel
    format: str
    filename: str
    list_id: Annotated[
        UUID | None, msgspec.Meta(description="The list every task goes to; null: the file's")
    ]
    valid_only: bool
    total: int
    imported: int
    skipped: int
    percent: Annotated[int, msgspec.Meta(ge=0, le=100)]
    errors: Annotated[
        list[ImportProblem],
        msgspec.Meta(description="The rows or components left out (only with valid_only)"),
    ]
    error_count: int
    warnings: list[ImportProblem]
    ignored: Annotated[
        dict[str, int], msgspec.Meta(description="What the file holds that Tasks has no place for")
    ]
    error: Annotated[str | None, msgspec.Meta(description="Why the job failed, if it did")]
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    updated_at: datetime.datetime

    @property
    def finished(self) -> bool:
        return JobStatus(self.status).finished
