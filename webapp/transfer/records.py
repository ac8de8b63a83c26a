"""The neutral shapes every format is read into and written from.

A parser never touches the database and never raises on a bad row: it returns a
`ParseResult` holding the records it could read *and* every problem it found, each with
where it is in the file. The import job decides what to do with them (import nothing
while anything is invalid, or only the valid records when the user chose so). A problem
marked `fatal` refuses the whole file (not UTF-8, too large, another shape, a future
version, columns nobody knows...): then there are no records to import at all.

Renderers take the same records: the export job fills `TaskRecord.source_id` with the
task's id and `ListRecord.source_id` with the list's id.
"""

from __future__ import annotations

import builtins
import datetime
import enum
import hashlib
from dataclasses import dataclass, field
from typing import Final
from zoneinfo import ZoneInfo

import msgspec

from webapp.tasks.schemas import PriorityLabel

MiB: Final = 1024 * 1024
# What the import accepts at most, unless the caller says otherwise (ParseOptions).
DEFAULT_MAX_BYTES: Final = 20 * MiB
# Problems beyond this many are counted (ParseResult.problem_count) but not kept: a
# 20 MiB file of bad rows would otherwise hold millions of messages in memory, and
# nobody reads past the first thousand.
DEFAULT_MAX_PROBLEMS: Final = 1000
# More tasks (rows, VTODOs, JSON array items) than this refuse the file: it bounds the
# memory a parse holds (a 20 MiB CSV of one-letter rows would otherwise be 7 million
# records, gigabytes) and is twice the 100,000 tasks the exports are built to stream.
DEFAULT_MAX_TASKS: Final = 200_000
UTC: Final = datetime.UTC


class Format(enum.StrEnum):
    """The formats an import reads (and, but for Todoist's, an export writes)."""

    TASKS_JSON = "tasks-json"
    TASKS_CSV = "tasks-csv"
    TODOIST_CSV = "todoist-csv"
    ICALENDAR = "icalendar"


class ListRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A list: its name and, when the file says, its id and creation time.

    `source_id` is our list id (our JSON export); other formats only name lists.
    """

    name: str
    source_id: str | None = None
    created_at: datetime.datetime | None = None


class TaskRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A task, whatever the file it came from or goes to.

    - `source_id`: a stable identity in the file, so that importing the same file twice
      makes each task once: our task id (our JSON and CSV), the VTODO's UID (iCalendar),
      or `derived_identity(...)` of the task's fields where the format has no id
      (Todoist; our CSV or a VTODO without one).
    - `list_name`: the list the task belongs to (None: the file names none, and the
      parser was given no default). `list_source_id` is that list's id in our JSON.
    - `completed_at`, `created_at`, `deleted_at`: aware UTC datetimes. `deleted_at` set
      means "in the trash" (only our JSON export carries the trash).
    """

    source_id: str
    title: str
    notes: str = ""
    priority: PriorityLabel = "none"
    due_date: datetime.date | None = None
    completed_at: datetime.datetime | None = None
    created_at: datetime.datetime | None = None
    deleted_at: datetime.datetime | None = None
    list_name: str | None = None
    list_source_id: str | None = None


class Problem(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Something wrong (or, among `ParseResult.warnings`, something lost) and where.

    Locations, as each format has them: `line` (CSV and Todoist: the 1-based line the
    row starts on, the header being line 1; iCalendar: the line of the property),
    `column` (a CSV column), `component` (iCalendar: the 1-based number of the VTODO)
    and `property` (an iCalendar property), `path` (JSON, e.g. `tasks[12].title`).
    `fatal`: the whole file is refused, not only a row.
    """

    message: str
    line: int | None = None
    column: str | None = None
    component: int | None = None
    property: str | None = None
    path: str | None = None
    fatal: bool = False

    # `property` is a field here, so the decorator is named by its module.
    @builtins.property
    def location(self) -> str:
        """Where, in words: "line 3, column title", "VTODO 2, DUE", "tasks[12].title"."""
        parts: list[str] = []
        if self.path is not None:
            parts.append(self.path)
        if self.component is not None:
            parts.append(f"VTODO {self.component}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.property is not None:
            parts.append(self.property)
        return ", ".join(parts) or "file"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How to read a file.

    - `max_bytes`: larger files are refused before anything is parsed (20 MiB).
    - `default_list`: the list of tasks whose file names none (a Todoist export is one
      project and does not name it; an iCalendar file may have no X-WR-CALNAME). The
      detecting `parse_upload` uses the file's name (without extension) for Todoist
      when this is None.
    - `timezone`: the user's zone, for times the file gives without one (floating
      iCalendar times, spreadsheet-edited CSV times) and to take the date of a due
      date given as a UTC instant.
    - `max_problems`: how many problems (and, separately, warnings) are kept.
    - `max_tasks`: a file with more tasks (or lists) than this is refused.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    default_list: str | None = None
    timezone: datetime.tzinfo = field(default=UTC)
    max_problems: int = DEFAULT_MAX_PROBLEMS
    max_tasks: int = DEFAULT_MAX_TASKS

    @classmethod
    def for_zone(cls, zone: str, *, default_list: str | None = None) -> ParseOptions:
        """Options with an IANA time zone given by name (e.g. "Europe/Berlin")."""
        return cls(timezone=ZoneInfo(zone), default_list=default_list)


@dataclass(slots=True)
class ParseResult:
    """Everything a parse found in one file.

    `problems` are what makes a record (or, if `fatal`, the file) invalid; the records
    with a problem are not in `tasks`. `warnings` are what was read with a loss but
    still imported (a Todoist date in words, dropped). `ignored` counts what the format
    carries and Tasks has no place for (RRULE, VALARM, RELATED-TO, VEVENTs, Todoist's
    sections and comments...), by what it is.
    """

    format: Format | None
    lists: list[ListRecord] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)
    # How many problems and warnings were found in all, including those not kept.
    problem_count: int = 0
    warning_count: int = 0
    max_problems: int = DEFAULT_MAX_PROBLEMS

    @property
    def refused(self) -> bool:
        """Whether the whole file is refused (a fatal problem): nothing can be imported."""
        return any(problem.fatal for problem in self.problems)

    @property
    def valid(self) -> bool:
        """Whether there is nothing wrong at all: every record can be imported."""
        return self.problem_count == 0

    def problem(
        self,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
        component: int | None = None,
        property: str | None = None,
        path: str | None = None,
        fatal: bool = False,
    ) -> None:
        """Record a problem (kept if fewer than `max_problems` are; a fatal one always)."""
        self.problem_count += 1
        if fatal or len(self.problems) < self.max_problems:
            self.problems.append(
                Problem(
                    message=message,
                    line=line,
                    column=column,
                    component=component,
                    property=property,
                    path=path,
                    fatal=fatal,
                )
            )

    def warn(
        self,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
        component: int | None = None,
        property: str | None = None,
        path: str | None = None,
    ) -> None:
        """Record something read with a loss (kept if fewer than `max_problems` are)."""
        self.warning_count += 1
        if len(self.warnings) < self.max_problems:
            self.warnings.append(
                Problem(
                    message=message,
                    line=line,
                    column=column,
                    component=component,
                    property=property,
                    path=path,
                )
            )

    def refuse(
        self, message: str, *, line: int | None = None, path: str | None = None
    ) -> ParseResult:
        """Refuse the whole file: a fatal problem, and no records at all."""
        self.lists.clear()
        self.tasks.clear()
        self.problem(message, line=line, path=path, fatal=True)
        return self

    def count_ignored(self, what: str, n: int = 1) -> None:
        """Count something the file holds that Tasks has no place for."""
        self.ignored[what] = self.ignored.get(what, 0) + n


def too_many_tasks(limit: int) -> str:
    """The refusal of a file with more than `limit` tasks."""
    return (
        f"The file holds more than {limit:,} tasks, more than one import takes; "
        "split it and import the parts."
    )


def derived_identity(*parts: str | None) -> str:
    """A stable identity for a task whose format gives it none: a hash of its fields.

    The same fields give the same identity in every import of the file; the parsers add
    `#2`, `#3`... to the second and later of identical tasks in one file, so that two
    identical tasks stay two.
    """
    joined = "\x1f".join("" if part is None else part for part in parts)
    return "sha256:" + hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Identities:
    """Hands out source identities, numbering repeats of a derived one (`#2`, `#3`...)
    and telling where an explicit one was seen first (a duplicate is a problem)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._repeats: dict[str, int] = {}

    def derived(self, *parts: str | None) -> str:
        """`derived_identity(*parts)`, with `#n` for the n-th time the same parts come."""
        base = derived_identity(*parts)
        count = self._repeats.get(base, 0) + 1
        self._repeats[base] = count
        return base if count == 1 else f"{base}#{count}"

    def first_seen(self, identity: str, where: str) -> str | None:
        """Where `identity` was seen before, or None (and remember `where`)."""
        before = self._seen.get(identity)
        if before is None:
            self._seen[identity] = where
        return before


def lists_of(tasks: list[TaskRecord]) -> list[ListRecord]:
    """The lists the tasks name, in order of first appearance (formats that only name
    lists on each task: CSV, Todoist, iCalendar)."""
    names = dict.fromkeys(task.list_name for task in tasks if task.list_name is not None)
    return [ListRecord(name=name) for name in names]
