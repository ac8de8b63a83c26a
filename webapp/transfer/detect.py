"""Which format an uploaded file is, from what it holds (its name only breaks a tie),
and the one entry point that reads any of them: `parse_upload`.

| the file begins with | format |
|---|---|
| `{` or `[` (after a BOM and white space) | our JSON export (another JSON shape is refused by its reader, with the reason) |
| `BEGIN:VCALENDAR` | iCalendar |
| a CSV header with `TYPE` and `CONTENT` | Todoist's CSV export |
| a CSV header with `title` | our CSV |
| anything else | by the file's extension: `.json`, `.ics`/`.ical`/`.ifb`, `.csv`/`.tsv`/`.txt` (our CSV: its reader names the columns it expected), else not a format Tasks reads |

The extension alone never decides: a Todoist export renamed `.txt`, or our JSON saved
without an extension, is still read as what it is.
"""

from __future__ import annotations

import dataclasses
from pathlib import PurePath
from typing import BinaryIO, Final

from webapp.transfer import csv_format, todoist_format
from webapp.transfer.csv_format import parse_csv
from webapp.transfer.csv_rows import header_names, normal
from webapp.transfer.fields import Invalid, clean_list_name
from webapp.transfer.ics_format import parse_ics
from webapp.transfer.json_format import parse_json
from webapp.transfer.records import Format, ParseOptions, ParseResult
from webapp.transfer.source import Unreadable, decode_text, read_limited
from webapp.transfer.todoist_format import parse_todoist_csv

# Enough of the file to see its first line or property, whatever its format.
_SNIFF_CHARACTERS: Final = 64 * 1024
_BY_EXTENSION: Final[dict[str, Format]] = {
    ".json": Format.TASKS_JSON,
    ".ics": Format.ICALENDAR,
    ".ical": Format.ICALENDAR,
    ".ifb": Format.ICALENDAR,
    ".csv": Format.TASKS_CSV,
    ".tsv": Format.TASKS_CSV,
    ".txt": Format.TASKS_CSV,
}


def detect_format(text: str, filename: str | None = None) -> Format | None:
    """The format of a file from its text (decoded, as `parse_upload` does), or from its
    name's extension when the text says nothing; None: not a format Tasks reads."""
    head = text[:_SNIFF_CHARACTERS].lstrip("\ufeff \t\r\n")
    if head.startswith(("{", "[")):
        return Format.TASKS_JSON
    if head[: len("BEGIN:VCALENDAR")].upper() == "BEGIN:VCALENDAR":
        return Format.ICALENDAR
    header, _ = header_names(head, (*todoist_format.COLUMNS, *csv_format.COLUMNS))
    names = {normal(name) for name in header}
    if {"type", "content"} <= names:
        return Format.TODOIST_CSV
    if "title" in names:
        return Format.TASKS_CSV
    if filename:
        return _BY_EXTENSION.get(PurePath(filename).suffix.lower())
    return None


def parse_upload(
    source: bytes | BinaryIO,
    *,
    filename: str | None = None,
    options: ParseOptions | None = None,
) -> ParseResult:
    """Read an uploaded file of any format Tasks imports: detect the format from its
    content, then parse it (see `ParseResult`). Never raises for what the file holds:
    a file that cannot be read at all is a result with one fatal problem.

    A Todoist export names no project: unless `options.default_list` says otherwise, its
    tasks go to a list named after the file (`Groceries.csv`: "Groceries").
    """
    options = options or ParseOptions()
    try:
        data = read_limited(source, options.max_bytes)
        text = decode_text(data)
    except Unreadable as error:
        return ParseResult(format=None, max_problems=options.max_problems).refuse(
            error.message, line=error.line
        )
    found = detect_format(text, filename)
    del text  # each reader decodes on its own; no need to hold the file twice meanwhile
    if found is Format.TASKS_JSON:
        return parse_json(data, options)
    if found is Format.ICALENDAR:
        return parse_ics(data, options)
    if found is Format.TASKS_CSV:
        return parse_csv(data, options)
    if found is Format.TODOIST_CSV:
        if options.default_list is None and filename:
            options = _with_default_list(options, PurePath(filename).stem)
        return parse_todoist_csv(data, options)
    return ParseResult(format=None, max_problems=options.max_problems).refuse(
        "This is not a file Tasks can import: it takes its own JSON or CSV export, "
        "Todoist's CSV export, and iCalendar (.ics) files of tasks."
    )


def _with_default_list(options: ParseOptions, name: str) -> ParseOptions:
    try:
        default_list = clean_list_name(name)
    except Invalid:
        return options
    return dataclasses.replace(options, default_list=default_list)
