"""Our CSV export: one row per task, for spreadsheets, read back by the import.

UTF-8 with a BOM (so that Excel reads it as UTF-8; the import accepts either), a header
row, CRLF line ends and quoting as RFC 4180 has them::

    list,title,notes,priority,due_date,completed_at,created_at,id
    Home,Buy milk,"Semi-skimmed,
    2 litres",high,2026-12-24,,2026-11-26T09:30:00.123456Z,0193…

| column | task record | written | read |
|---|---|---|---|
| `list` | `list_name` | the list's name, empty for none | empty: the default list (ParseOptions) |
| `title` | `title` | as is | required; the app's rules |
| `notes` | `notes` | as is (line breaks kept, quoted) | empty: none |
| `priority` | `priority` | none, low, medium, high | any case; empty: none |
| `due_date` | `due_date` | YYYY-MM-DD, empty for none | the same |
| `completed_at` | `completed_at` | ISO 8601 UTC with Z, to the microsecond; empty: active | with an offset, or without one in the user's zone (spreadsheets drop the Z) |
| `created_at` | `created_at` | the same | the same |
| `id` | `source_id` | the task's id | empty: a hash of list, title, notes, due date and creation time |

Only `title` is required when reading; a column not in this table, a repeated one or a
missing title column refuses the file with a message naming them. Tasks in the trash are
not written (the trash travels only in the JSON export).

Formula injection (OWASP, "CSV Injection"): a spreadsheet runs a cell that begins with
`=`, `+`, `-` or `@` as a formula, and tab or carriage return there can smuggle one
past some filters. Such a cell is written with a `'` before it, which spreadsheets show
as text. So that the import can give back exactly what was exported, a cell that begins
with `'` gets one more, and the import drops the first `'` of every cell that has one
(a hand-made file whose title really begins with `'` loses it).
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Final

from webapp.transfer.chunks import Chunker
from webapp.transfer.csv_rows import (
    RowReader,
    header_names,
    match_columns,
    optional,
    read_rows,
)
from webapp.transfer.fields import (
    NO_PRIORITY,
    clean_list_name,
    clean_notes,
    clean_source_id,
    clean_title,
    iso_instant,
    parse_iso_date,
    parse_iso_instant,
    parse_priority,
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
    "list",
    "title",
    "notes",
    "priority",
    "due_date",
    "completed_at",
    "created_at",
    "id",
)
REQUIRED_COLUMNS: Final = ("title",)
# What a spreadsheet may take for the start of a formula (OWASP's list).
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
_TEXT_MARK: Final = "'"
_BOM: Final = "\ufeff"


def neutralise(cell: str) -> str:
    """The cell as written: a `'` before one a spreadsheet could run as a formula (and
    before one that begins with `'`, so that `restore` is exact)."""
    if cell.startswith(FORMULA_STARTS) or cell.startswith(_TEXT_MARK):
        return _TEXT_MARK + cell
    return cell


def restore(cell: str) -> str:
    """The cell as it was before `neutralise`."""
    return cell[1:] if cell.startswith(_TEXT_MARK) else cell


# --- writing ----------------------------------------------------------------------------


class CsvExportWriter:
    """Our CSV, written piece by piece: `head()` once, then `rows(batch)` for each batch
    of tasks (the caller's batch size bounds the memory). Tasks in the trash are skipped."""

    def __init__(self, *, bom: bool = True) -> None:
        self._bom = bom
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def head(self) -> bytes:
        """The BOM (unless not wanted) and the header row."""
        self._writer.writerow(COLUMNS)
        return (_BOM if self._bom else "").encode() + self._take()

    def rows(self, batch: Iterable[TaskRecord]) -> bytes:
        """One row per task of the batch that is not in the trash."""
        for task in batch:
            if task.deleted_at is None:
                self._writer.writerow([neutralise(cell) for cell in _cells(task)])
        return self._take()

    def _take(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8")


def render_csv(tasks: Iterable[TaskRecord], *, bom: bool = True) -> Iterator[bytes]:
    """Our CSV export as chunks of bytes (about 64 KiB each), read from `tasks` as it
    goes: memory stays flat for any number of tasks if they are generated lazily."""
    writer = CsvExportWriter(bom=bom)
    chunker = Chunker()
    chunker.add(writer.head())
    for task in tasks:
        if chunk := chunker.add(writer.rows((task,))):
            yield chunk
    yield chunker.flush()


def _cells(task: TaskRecord) -> tuple[str, ...]:
    return (
        task.list_name or "",
        task.title,
        task.notes,
        task.priority,
        task.due_date.isoformat() if task.due_date else "",
        iso_instant(task.completed_at) if task.completed_at else "",
        iso_instant(task.created_at) if task.created_at else "",
        task.source_id,
    )


# --- reading ----------------------------------------------------------------------------


def parse_csv(source: bytes | BinaryIO, options: ParseOptions | None = None) -> ParseResult:
    """Read our CSV (or one made in a spreadsheet with its columns): the tasks, the lists
    they name, and every problem with its line (the header is line 1) and column.

    Refused whole: too large, not UTF-8, binary, a header that does not fit (the message
    names each unknown or missing column), a cell or line far past any valid one.
    """
    options = options or ParseOptions()
    result = ParseResult(format=Format.TASKS_CSV, max_problems=options.max_problems)
    try:
        text = decode_text(read_limited(source, options.max_bytes))
        header, delimiter = header_names(text, COLUMNS)
        positions = match_columns(
            header, known=COLUMNS, required=REQUIRED_COLUMNS, format_name="CSV file"
        )
        identities = Identities()
        for rows, (line, row) in enumerate(read_rows(text, delimiter), 1):
            if rows > options.max_tasks:
                return result.refuse(too_many_tasks(options.max_tasks), line=line)
            record = _task(line, row, positions, len(header), identities, options, result)
            if record is not None:
                result.tasks.append(record)
    except Unreadable as error:
        return result.refuse(error.message, line=error.line)
    result.lists = lists_of(result.tasks)
    return result


def _task(
    line: int,
    row: list[str],
    positions: dict[str, int],
    width: int,
    identities: Identities,
    options: ParseOptions,
    result: ParseResult,
) -> TaskRecord | None:
    if len(row) > width:
        result.problem(f"The row has {len(row)} cells; the header has {width}.", line=line)
        return None
    cells = RowReader(line, row, positions, result, options.timezone)

    def cell(column: str) -> str:
        return restore(cells.raw(column))

    def instant(text: str) -> datetime.datetime:
        return parse_iso_instant(text, options.timezone)

    def list_name(text: str) -> str | None:
        return clean_list_name(text) if text.strip() else options.default_list

    title = cells.check("title", clean_title, "", cell("title"))
    notes = cells.check("notes", clean_notes, "", cell("notes"))
    list_ = cells.check("list", list_name, None, cell("list"))
    priority = cells.check("priority", parse_priority, NO_PRIORITY, cell("priority"))
    due_date = cells.check("due_date", optional(parse_iso_date), None, cell("due_date"))
    completed_at = cells.check("completed_at", optional(instant), None, cell("completed_at"))
    created_at = cells.check("created_at", optional(instant), None, cell("created_at"))
    if cell("id").strip():
        source_id = cells.check("id", clean_source_id, "", cell("id"))
        if source_id and (first := identities.first_seen(source_id, f"line {line}")):
            cells.problem(f"Another task ({first}) has the same id.", "id")
    else:
        source_id = identities.derived(list_, title, notes, cell("due_date"), cell("created_at"))
    if cells.failed:
        return None
    return TaskRecord(
        source_id=source_id,
        title=title,
        notes=notes,
        priority=priority,
        due_date=due_date,
        completed_at=completed_at,
        created_at=created_at,
        list_name=list_,
    )
