"""Reading a CSV file safely, for our CSV and Todoist's: bounded cells and lines, the
header matched against the columns a format knows, the delimiter a spreadsheet chose.

Bounds. `csv.field_size_limit` is set (process-wide: it is a module setting of `csv`,
and nothing else in the app reads CSV) to `CSV_FIELD_LIMIT`, far above any valid cell
(notes hold at most 10,000 characters) so that a long note is reported as a long note,
yet low enough that a 10 MiB cell is refused after 64 Ki characters instead of being
read whole. Lines are cut from the text with a bounded search, so a 10 MiB line without a
line break (which the csv module would otherwise split into millions of cells before any
check) is refused after `CSV_LINE_LIMIT` characters. Either refusal names the line.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Callable, Collection, Iterator
from typing import Final, TypeVar

from webapp.transfer.fields import Invalid
from webapp.transfer.records import ParseResult
from webapp.transfer.source import Unreadable, bounded_lines

CSV_FIELD_LIMIT: Final = 64 * 1024
CSV_LINE_LIMIT: Final = 2 * CSV_FIELD_LIMIT
# Spreadsheets save "CSV" with the separator of the user's locale: a comma, a semicolon
# (where the comma is the decimal point), or a tab ("text" export).
_DELIMITERS: Final = (",", ";", "\t")
T = TypeVar("T")


def first_line(text: str) -> str:
    """The text up to its first line break (at most `CSV_LINE_LIMIT` characters)."""
    end = text.find("\n", 0, CSV_LINE_LIMIT)
    return text[: CSV_LINE_LIMIT if end < 0 else end].rstrip("\r")


def header_names(text: str, known: Collection[str]) -> tuple[list[str], str]:
    """The column names of the first line, and the delimiter that finds the most of them
    among `known` (a comma when none does better)."""
    known_names = {normal(name) for name in known}
    line = first_line(text)
    best: tuple[int, list[str], str] = (-1, [], ",")
    for delimiter in _DELIMITERS:
        try:
            names = next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:
            continue
        score = sum(1 for name in names if normal(name) in known_names)
        if score > best[0]:
            best = (score, names, delimiter)
    return best[1], best[2]


def normal(name: str) -> str:
    """A column name as compared: case and surrounding space do not count."""
    return name.strip().lower()


def match_columns(
    header: list[str],
    *,
    known: Collection[str],
    required: Collection[str],
    format_name: str,
) -> dict[str, int]:
    """Each known column's position in the header, or Unreadable naming every unknown,
    missing or repeated column (and what the format expects)."""
    positions: dict[str, int] = {}
    lookup = {normal(name): name for name in known}
    unknown: list[str] = []
    repeated: list[str] = []
    for index, raw in enumerate(header):
        name = lookup.get(normal(raw))
        if name is None:
            unknown.append(raw.strip() or f"(empty, column {index + 1})")
        elif name in positions:
            repeated.append(name)
        else:
            positions[name] = index
    missing = [name for name in required if name not in positions]
    if unknown or missing or repeated:
        parts = []
        if missing:
            parts.append("missing column" + _s(missing) + ": " + ", ".join(missing))
        if unknown:
            parts.append("unknown column" + _s(unknown) + ": " + ", ".join(unknown))
        if repeated:
            parts.append("repeated column" + _s(repeated) + ": " + ", ".join(repeated))
        raise Unreadable(
            f"The header of this {format_name} does not fit: {'; '.join(parts)}. "
            f"The columns it may have are {', '.join(known)}"
            + (f" ({', '.join(required)} required)." if required else "."),
            line=1,
        )
    return positions


def _s(names: list[str]) -> str:
    return "s" if len(names) > 1 else ""


def read_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Each record after the header with the line it starts on (the header is line 1),
    skipping blank records. Raises Unreadable, naming the line, for a cell or line past
    the limits or CSV the csv module cannot read."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(bounded_lines(text, CSV_LINE_LIMIT), delimiter=delimiter, strict=False)
    start = 1
    try:
        next(reader, None)  # the header, read by header_names
        start = reader.line_num + 1
        for row in reader:
            if any(cell.strip() for cell in row):
                yield start, row
            start = reader.line_num + 1
    except csv.Error as error:
        # Named by the line its row starts on: where to look in an editor.
        if "field larger than field limit" in str(error):
            raise Unreadable(
                f"A cell of the row on line {start} is longer than {CSV_FIELD_LIMIT:,} "
                "characters; no task field is that long, so this is not a file of tasks.",
                line=start,
            ) from None
        raise Unreadable(
            f"The row on line {start} cannot be read as CSV: {error}.", line=start
        ) from None


class RowReader:
    """One row's cells by column name, each checked into a value or a problem with the
    row's line and the column (shared with the Todoist reader)."""

    def __init__(
        self,
        line: int,
        row: list[str],
        positions: dict[str, int],
        result: ParseResult,
        zone: datetime.tzinfo,
    ) -> None:
        self.line = line
        # The user's zone, for times the file gives without one.
        self.zone = zone
        self._row = row
        self._positions = positions
        self._result = result
        self._problems_before = result.problem_count

    def raw(self, column: str) -> str:
        """The cell as the file has it; "" when the column is absent or the row is short
        (a spreadsheet may leave out a row's empty cells at its end)."""
        index = self._positions.get(column)
        return self._row[index] if index is not None and index < len(self._row) else ""

    def check(self, column: str, read: Callable[[str], T], default: T, cell: str) -> T:
        """`read(cell)`, or `default` and a problem at this row and column."""
        try:
            return read(cell)
        except Invalid as error:
            self.problem(str(error), column)
            return default

    def problem(self, message: str, column: str | None = None) -> None:
        """A problem at this row (and column): the row is not imported."""
        self._result.problem(message, line=self.line, column=column)

    def warn(self, message: str, column: str | None = None) -> None:
        """Something of this row read with a loss: the row is still imported."""
        self._result.warn(message, line=self.line, column=column)

    def ignore(self, what: str) -> None:
        """Count something this row holds that Tasks has no place for."""
        self._result.count_ignored(what)

    @property
    def failed(self) -> bool:
        """Whether any cell of this row was a problem."""
        return self._result.problem_count > self._problems_before


def optional(read: Callable[[str], T]) -> Callable[[str], T | None]:
    """`read` for a cell that may be empty (None)."""

    def read_optional(cell: str) -> T | None:
        return read(cell) if cell.strip() else None

    return read_optional
