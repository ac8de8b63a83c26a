"""Our CSV: round trips, cells a spreadsheet would run neutralised, and a reader that
names bad columns and every bad cell by line, and refuses hostile files quickly."""

from __future__ import annotations

import csv
import datetime
import io
import time

import msgspec
import pytest

from tests.app.transfer.samples import FILES, NOW, TASKS, TRASHED, many_tasks
from webapp.transfer.csv_format import (
    COLUMNS,
    FORMULA_STARTS,
    CsvExportWriter,
    neutralise,
    parse_csv,
    render_csv,
    restore,
)
from webapp.transfer.csv_rows import CSV_FIELD_LIMIT
from webapp.transfer.records import UTC, ListRecord, ParseOptions, TaskRecord

HEADER = ",".join(COLUMNS)


def export(tasks: list[TaskRecord], bom: bool = True) -> bytes:
    return b"".join(render_csv(tasks, bom=bom))


def as_csv(tasks: list[TaskRecord]) -> list[TaskRecord]:
    """What CSV carries of the tasks: everything but the list's id."""
    return [msgspec.structs.replace(task, list_source_id=None) for task in tasks]


def test_the_round_trip_gives_back_the_same_tasks() -> None:
    result = parse_csv(export([*TASKS, TRASHED]))
    assert result.problems == []
    # The trash travels only in the JSON export.
    assert result.tasks == as_csv(TASKS)
    assert result.lists == [ListRecord(name="Home"), ListRecord(name=TASKS[1].list_name or "")]


def test_utf8_with_a_bom_a_header_and_crlf_line_ends() -> None:
    data = export(TASKS[:1])
    assert data.startswith(b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n")
    assert data.endswith(b"\r\n")
    assert not export(TASKS[:1], bom=False).startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[1] == [
        "Home",
        "Buy milk",
        "Semi-skimmed,\n2 litres",
        "high",
        "",
        "",
        "2026-11-26T08:30:00.123455Z",
        TASKS[0].source_id,
    ]


@pytest.mark.parametrize("start", [*FORMULA_STARTS, "'"])
def test_cells_a_spreadsheet_would_run_begin_with_a_quote(start: str) -> None:
    # A title holds no tab or carriage return (control characters); notes may.
    title = "x" if start in "\t\r" else f"{start}x"
    task = TaskRecord(source_id="t", title=title, notes=f"{start}1+1")
    rows = list(csv.reader(io.StringIO(export([task]).decode("utf-8-sig"), newline="")))
    title, notes = rows[1][1], rows[1][2]
    assert notes == f"'{start}1+1"
    if task.title.startswith((*FORMULA_STARTS, "'")):
        assert title == f"'{task.title}"
    # No written cell begins with what a spreadsheet runs.
    assert not any(cell.startswith(FORMULA_STARTS) for row in rows for cell in row)
    assert parse_csv(export([task])).tasks == [task]


def test_neutralise_and_restore_are_inverse() -> None:
    for cell in ["", "plain", "=1", "+1", "-1", "@x", "\tx", "\rx", "'", "''x", "'=x", "a=b"]:
        assert restore(neutralise(cell)) == cell


def test_the_writer_takes_batches_and_skips_the_trash() -> None:
    writer = CsvExportWriter(bom=False)
    data = writer.head() + writer.rows(TASKS[:3]) + writer.rows([TRASHED]) + writer.rows(TASKS[3:])
    assert data == export([*TASKS, TRASHED], bom=False)


def test_the_hand_written_file_is_read() -> None:
    result = parse_csv((FILES / "tasks.csv").read_bytes(), ParseOptions.for_zone("Europe/Berlin"))
    assert result.problems == []
    milk, report, formula, plumber = result.tasks
    assert (milk.list_name, milk.title, milk.notes) == (
        "Home",
        "Buy milk",
        "Semi-skimmed,\r\n2 litres",
    )
    assert milk.source_id == "01938c5e-8a4b-7c2d-9e0f-000000000001"
    assert milk.created_at == datetime.datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC)
    assert report.completed_at == datetime.datetime(2026, 11, 20, 17, 45, 10, tzinfo=UTC)
    assert (formula.title, formula.priority, formula.list_name) == ("=1+1 stays text", "low", None)
    assert formula.source_id.startswith("sha256:")
    assert plumber.notes == 'He said "Tuesday"'
    # "2026-11-21 08:00:00", as a spreadsheet rewrites a time, read in the user's zone.
    assert plumber.completed_at == datetime.datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
    assert [item.name for item in result.lists] == ["Home", "Work"]


def test_only_title_is_required_and_the_default_list_fills_in() -> None:
    result = parse_csv(b"Title\r\nA task\r\n", ParseOptions(default_list="Inbox"))
    assert result.problems == []
    assert result.tasks[0].title == "A task"
    assert result.tasks[0].list_name == "Inbox"
    assert result.tasks[0].priority == "none"


def test_a_spreadsheet_in_a_semicolon_locale_is_read() -> None:
    data = b'title;due_date;priority\n"Pay, rent";2026-12-01;High\n'
    result = parse_csv(data)
    assert result.problems == []
    assert result.tasks[0].title == "Pay, rent"
    assert result.tasks[0].due_date == datetime.date(2026, 12, 1)


@pytest.mark.parametrize(
    ("header", "names"),
    [
        ("title,colour,size", ["unknown columns: colour, size"]),
        ("list,notes", ["missing column: title"]),
        ("title,notes,Title", ["repeated column: title"]),
        ("Name,Due", ["missing column: title", "unknown columns: Name, Due"]),
        ("title,", ["unknown column: (empty, column 2)"]),
    ],
)
def test_a_header_that_does_not_fit_refuses_the_file_naming_the_columns(
    header: str, names: list[str]
) -> None:
    result = parse_csv(f"{header}\nx,y,z\n".encode())
    assert result.refused
    problem = result.problems[0]
    assert problem.line == 1
    for name in names:
        assert name in problem.message
    assert "list, title, notes, priority, due_date, completed_at, created_at, id" in problem.message


def test_every_bad_cell_is_a_problem_at_its_line_and_column() -> None:
    rows = [
        HEADER,
        'Home,Fine,"Notes,\nover two lines",,,,,',  # lines 2-3
        "Home,,,urgent,2026-13-01,yesterday,,",  # line 4
        "\u200b,x,bell\x07,,,,,",  # line 5
        "",  # line 6: blank, skipped
        "Home,Too many,,,,,,,extra",  # line 7
        "Home,Short row",  # line 8: a spreadsheet left out the empty cells
        "Home,Dup,,,,,,same-id",  # line 9
        "Home,Dup again,,,,,,same-id",  # line 10
    ]
    result = parse_csv("\n".join(rows).encode())
    where = [(problem.line, problem.column) for problem in result.problems]
    assert where == [
        (4, "title"),
        (4, "priority"),
        (4, "due_date"),
        (4, "completed_at"),
        (5, "notes"),
        (5, "list"),
        (7, None),
        (10, "id"),
    ]
    assert "line 9" in result.problems[-1].message
    assert [task.title for task in result.tasks] == ["Fine", "Short row", "Dup"]
    assert str(result.problems[0]) == "line 4, column title: The title is empty."


def test_a_10_mib_cell_is_refused_quickly_naming_its_line() -> None:
    for cell in (b'"' + b"x\n" * (5 * 1024 * 1024) + b'"', b"x" * (10 * 1024 * 1024)):
        data = HEADER.encode() + b"\nHome,fine\nHome," + cell + b"\n"
        started = time.monotonic()
        result = parse_csv(data)
        assert time.monotonic() - started < 2
        assert result.refused
        assert result.tasks == []
        assert result.problems[0].line == 3
        assert "longer than" in result.problems[0].message
    assert csv.field_size_limit() == CSV_FIELD_LIMIT


def test_a_cell_a_little_too_long_is_a_problem_of_its_row_only() -> None:
    data = f"{HEADER}\nHome,fine\nHome,x,{'n' * 20_000}\n".encode()
    result = parse_csv(data)
    assert not result.refused
    assert [(problem.line, problem.column) for problem in result.problems] == [(3, "notes")]
    assert len(result.tasks) == 1


def test_more_rows_than_the_limit_refuse_the_file() -> None:
    data = ("title\n" + "x\n" * 11).encode()
    result = parse_csv(data, ParseOptions(max_tasks=10))
    assert result.refused
    assert "more than 10 tasks" in result.problems[0].message
    assert result.problems[0].line == 12


def test_the_stream_is_written_in_chunks() -> None:
    chunks = list(render_csv(many_tasks(5000)))
    assert len(chunks) > 3
    assert max(len(chunk) for chunk in chunks) < 80 * 1024
    assert len(parse_csv(b"".join(chunks)).tasks) == 5000


def test_times_without_a_zone_are_read_in_the_users_zone() -> None:
    data = b"title,created_at\nx,2026-07-01 12:00\n"
    berlin = parse_csv(data, ParseOptions.for_zone("Europe/Berlin")).tasks[0]
    assert berlin.created_at == datetime.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert parse_csv(data).tasks[0].created_at == datetime.datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert NOW.tzinfo is UTC
