"""Todoist's CSV export of a project ("Export as a template", CSV), read as tasks.

One file is one project and does not name it: the tasks go to `ParseOptions.default_list`
(the detecting `parse_upload` passes the file's name without its extension when the
caller gives none). The columns, as Todoist's help pages describe them:

| column | read as | notes |
|---|---|---|
| `TYPE` | which rows are tasks | `task`: a task; `section` and `note` (a comment on the task above) rows are not tasks, counted in `ignored` as "Todoist section" and "Todoist note"; blank rows are skipped |
| `CONTENT` | `title` | the app's rules: a title over 200 characters is a problem (Todoist allows longer). `@label` words stay in the title |
| `DESCRIPTION` | `notes` | older exports have no such column |
| `PRIORITY` | `priority` | inverted: 1 (p1, the most urgent) high, 2 medium, 3 low, 4 (p4, Todoist's default) none; empty: none |
| `INDENT` | (ignored) | sub-tasks (INDENT above 1) become top-level tasks, counted in `ignored` as "Todoist sub-task" |
| `AUTHOR`, `RESPONSIBLE` | (ignored) | people of the Todoist account |
| `DATE` | `due_date` | an ISO date (2026-12-24) or date and time (its date; one with an offset is taken in `TIMEZONE`'s zone, else the user's). Todoist also writes dates in words ("every monday", "tomorrow", "12 Dec"): those are not guessed at; the task is imported without a due date, with a warning naming the line |
| `DATE_LANG` | (ignored) | the language of the dates in words |
| `TIMEZONE` | the zone of a `DATE` with an offset | |
| `DURATION`, `DURATION_UNIT`, `DEADLINE`, `DEADLINE_LANG` | (ignored) | not in the help page's table; accepted in case exports made since Todoist added durations and deadlines carry them |

A Todoist export holds no completed tasks, no creation times and no ids: a task's
`source_id` is a hash of its list, content, description and date (the second of two
identical tasks gets `#2`), so that importing the same file again adds nothing.
Required columns: TYPE and CONTENT; any column not named above refuses the file.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from typing import BinaryIO, Final

from webapp.tasks.schemas import PriorityLabel
from webapp.transfer.csv_rows import RowReader, header_names, match_columns, read_rows
from webapp.transfer.fields import (
    NO_PRIORITY,
    Invalid,
    clean_list_name,
    clean_notes,
    clean_title,
    parse_iso_date,
)
from webapp.transfer.records import (
    Format,
    Identities,
    ParseOptions,
    ParseResult,
    TaskRecord,
    lists_of,
    too_many_tasks,
)
from webapp.transfer.source import Unreadable, decode_text, read_limited

COLUMNS: Final = (
    "TYPE",
    "CONTENT",
    "DESCRIPTION",
    "PRIORITY",
    "INDENT",
    "AUTHOR",
    "RESPONSIBLE",
    "DATE",
    "DATE_LANG",
    "TIMEZONE",
    "DURATION",
    "DURATION_UNIT",
    "DEADLINE",
    "DEADLINE_LANG",
)
REQUIRED_COLUMNS: Final = ("TYPE", "CONTENT")

# Todoist's priority is inverted. Its help page "Format a CSV file to import into
# Todoist" (https://todoist.com/help/articles/format-a-csv-file-to-import-into-todoist-UVUXTmm6,
# and "Import or export a project as a CSV file in Todoist", .../YC8YvN) says of the
# PRIORITY column: "Type 1 to add p1 to the task (highest priority). Type 2 to add p2 …
# Type 3 to add p3 … Type 4 to add p4 to the task (lowest priority)." p4 is what a task
# has when nobody set a priority, hence none. (Todoist's REST API numbers the other way,
# 4 for p1; that is not this file.) The same page says an empty cell means p1 to
# Todoist's own import; a file Todoist exported always has the number, so an empty cell
# comes from a hand-made file, where it means "no priority" far more often: none.
PRIORITIES: Final[dict[str, PriorityLabel]] = {
    "1": "high",
    "2": "medium",
    "3": "low",
    "4": "none",
    "": "none",
}
TASK, SECTION, NOTE = "task", "section", "note"
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_todoist_csv(source: bytes | BinaryIO, options: ParseOptions | None = None) -> ParseResult:
    """Read Todoist's CSV export of one project: its tasks (into `options.default_list`),
    every problem with its line (the header is line 1) and column, a warning for each
    date in words, and counts of what is not a task.

    Refused whole: too large, not UTF-8, binary, a header without TYPE or CONTENT or with
    a column Todoist does not write.
    """
    options = options or ParseOptions()
    result = ParseResult(format=Format.TODOIST_CSV, max_problems=options.max_problems)
    list_name: str | None = None
    if options.default_list is not None:
        try:
            list_name = clean_list_name(options.default_list)
        except Invalid as error:
            return result.refuse(f"The list to import into: {error}")
    try:
        text = decode_text(read_limited(source, options.max_bytes))
        header, delimiter = header_names(text, COLUMNS)
        positions = match_columns(
            header, known=COLUMNS, required=REQUIRED_COLUMNS, format_name="Todoist CSV"
        )
        identities = Identities()
        for rows, (line, row) in enumerate(read_rows(text, delimiter), 1):
            if rows > options.max_tasks:
                return result.refuse(too_many_tasks(options.max_tasks), line=line)
            if len(row) > len(header):
                result.problem(
                    f"The row has {len(row)} cells; the header has {len(header)}.", line=line
                )
                continue
            cells = RowReader(line, row, positions, result, options.timezone)
            record = _task(cells, list_name, identities)
            if record is not None:
                result.tasks.append(record)
    except Unreadable as error:
        return result.refuse(error.message, line=error.line)
    result.lists = lists_of(result.tasks)
    return result


def _task(cells: RowReader, list_name: str | None, identities: Identities) -> TaskRecord | None:
    kind = cells.raw("TYPE").strip().lower()
    if kind in (SECTION, NOTE):
        cells.ignore(f"Todoist {kind}")
        return None
    if kind != TASK:
        cells.problem(
            f"The TYPE {cells.raw('TYPE')!r} is not task, section or note.", column="TYPE"
        )
        return None
    content, description, date = cells.raw("CONTENT"), cells.raw("DESCRIPTION"), cells.raw("DATE")
    title = cells.check("CONTENT", clean_title, "", content)
    notes = cells.check("DESCRIPTION", clean_notes, "", description)
    priority = cells.check("PRIORITY", _priority, NO_PRIORITY, cells.raw("PRIORITY"))
    due_date = _due_date(cells, date)
    indent = cells.raw("INDENT").strip()
    if indent not in ("", "1"):
        # Still a task: imported, but at the top level (Tasks has no sub-tasks).
        cells.ignore("Todoist sub-task")
    if cells.failed:
        return None
    return TaskRecord(
        source_id=identities.derived(list_name, content, description, date),
        title=title,
        notes=notes,
        priority=priority,
        due_date=due_date,
        list_name=list_name,
    )


def _priority(cell: str) -> PriorityLabel:
    priority = PRIORITIES.get(cell.strip())
    if priority is None:
        raise Invalid(f"The PRIORITY {cell!r} is not 1, 2, 3 or 4.")
    return priority


def _due_date(cells: RowReader, cell: str) -> datetime.date | None:
    """The due date of an ISO DATE; None with a warning for a date in words."""
    text = cell.strip()
    if not text:
        return None
    if not _ISO_START.match(text):
        cells.warn(
            f"The DATE {text!r} is not an ISO date (YYYY-MM-DD); Todoist's dates in words "
            "are not read, so the task is imported without a due date.",
            column="DATE",
        )
        return None
    if len(text) == len("2026-12-24"):
        return cells.check("DATE", parse_iso_date, None, text)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        cells.problem(f"The DATE {text!r} is not a valid ISO date and time.", column="DATE")
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(_zone(cells.raw("TIMEZONE"), cells))
    return moment.date()


def _zone(name: str, cells: RowReader) -> datetime.tzinfo:
    name = name.strip()
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            cells.warn(
                f"The TIMEZONE {name!r} is not a known time zone; the date is taken in yours.",
                column="TIMEZONE",
            )
    return cells.zone
