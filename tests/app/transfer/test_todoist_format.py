"""Todoist's CSV export: tasks from its task rows, the inverted priority, ISO dates (words
are a warning), sections and comments counted, identities stable across imports."""

from __future__ import annotations

import datetime

import pytest

from tests.app.transfer.samples import FILES
from webapp.transfer.records import ParseOptions, ParseResult
from webapp.transfer.todoist_format import parse_todoist_csv

HEADER = "TYPE,CONTENT,DESCRIPTION,PRIORITY,INDENT,AUTHOR,RESPONSIBLE,DATE,DATE_LANG,TIMEZONE"


def parse(*rows: str, options: ParseOptions | None = None) -> ParseResult:
    return parse_todoist_csv("\n".join([HEADER, *rows]).encode(), options)


def test_the_hand_written_export_is_read() -> None:
    result = parse_todoist_csv(
        (FILES / "todoist-groceries.csv").read_bytes(), ParseOptions(default_list="Groceries")
    )
    assert result.problems == []
    assert [(task.title, task.priority, task.due_date) for task in result.tasks] == [
        ("Milk @shop", "high", datetime.date(2026, 12, 24)),
        ("Butter", "medium", None),
        ("Bread", "low", None),
        # 2026-12-31T23:30:00Z is 1 January in Tokyo, the TIMEZONE of the row.
        ("Cake for the party", "none", datetime.date(2027, 1, 1)),
        ("Milk @shop", "high", datetime.date(2026, 12, 24)),
    ]
    assert result.tasks[2].notes == "Rye, sliced"
    assert {task.list_name for task in result.tasks} == {"Groceries"}
    assert [item.name for item in result.lists] == ["Groceries"]
    assert result.ignored == {"Todoist section": 2, "Todoist note": 1, "Todoist sub-task": 1}
    assert [(warning.line, warning.column) for warning in result.warnings] == [(8, "DATE")]
    assert "every friday" in result.warnings[0].message
    assert all(task.completed_at is None and task.created_at is None for task in result.tasks)


@pytest.mark.parametrize(
    ("cell", "priority"),
    [("1", "high"), ("2", "medium"), ("3", "low"), ("4", "none"), ("", "none")],
)
def test_todoist_priority_is_inverted(cell: str, priority: str) -> None:
    assert parse(f"task,x,,{cell},1,,,,,").tasks[0].priority == priority


def test_identities_are_stable_and_identical_tasks_stay_two() -> None:
    data = (FILES / "todoist-groceries.csv").read_bytes()
    first = [task.source_id for task in parse_todoist_csv(data).tasks]
    assert first == [task.source_id for task in parse_todoist_csv(data).tasks]
    assert first[4] == first[0] + "#2"
    assert len(set(first)) == 5
    # The list is part of the identity: the same file into another list is other tasks.
    other = parse_todoist_csv(data, ParseOptions(default_list="Elsewhere")).tasks
    assert not set(first) & {task.source_id for task in other}


def test_bad_rows_are_problems_at_their_line_and_column() -> None:
    result = parse(
        "task,,,1,1,,,,,",
        "task,Fine,,5,1,,,,,",
        "event,Party,,,,,,,,",
        "task,Bad date,,1,1,,,2026-02-30,en,",
        "task,Bad time,,1,1,,,2026-02-01T25:00,en,",
        "task," + "x" * 201 + ",,1,1,,,,,",
    )
    assert [(problem.line, problem.column) for problem in result.problems] == [
        (2, "CONTENT"),
        (3, "PRIORITY"),
        (4, "TYPE"),
        (5, "DATE"),
        (6, "DATE"),
        (7, "CONTENT"),
    ]
    assert result.tasks == []


def test_dates_with_a_time_give_their_date_in_the_right_zone() -> None:
    result = parse(
        "task,Local,,4,1,,,2026-03-01T23:30:00,en,Asia/Tokyo",
        "task,UTC in Tokyo,,4,1,,,2026-03-01T23:30:00Z,en,Asia/Tokyo",
        "task,UTC without zone,,4,1,,,2026-03-01T23:30:00Z,en,",
        "task,Unknown zone,,4,1,,,2026-03-01T23:30:00+00:00,en,Mars/Olympus",
        options=ParseOptions.for_zone("America/New_York"),
    )
    assert [task.due_date for task in result.tasks] == [
        datetime.date(2026, 3, 1),
        datetime.date(2026, 3, 2),
        datetime.date(2026, 3, 1),
        datetime.date(2026, 3, 1),
    ]
    assert [warning.column for warning in result.warnings] == ["TIMEZONE"]


@pytest.mark.parametrize("words", ["tomorrow", "every monday", "12 Dec", "Dec 12 2026", "p1"])
def test_dates_in_words_are_a_warning_and_the_task_has_no_due_date(words: str) -> None:
    result = parse(f"task,x,,4,1,,,{words},en,")
    assert result.valid
    assert result.tasks[0].due_date is None
    assert result.warning_count == 1


def test_older_and_newer_exports_are_read() -> None:
    older = "TYPE,CONTENT,PRIORITY,INDENT,AUTHOR,RESPONSIBLE,DATE,DATE_LANG\ntask,x,1,1,,,,en\n"
    assert parse_todoist_csv(older.encode()).tasks[0].priority == "high"
    newer = (
        f"{HEADER},DURATION,DURATION_UNIT,DEADLINE,DEADLINE_LANG\ntask,x,,2,1,,,,,,15,minute,,\n"
    )
    assert parse_todoist_csv(newer.encode()).tasks[0].priority == "medium"


def test_a_header_without_type_or_with_other_columns_is_refused() -> None:
    result = parse_todoist_csv(b"CONTENT,PRIORITY,LABELS\nx,1,a\n")
    assert result.refused
    assert "missing column: TYPE" in result.problems[0].message
    assert "unknown column: LABELS" in result.problems[0].message


def test_an_invalid_default_list_refuses_the_file() -> None:
    result = parse("task,x,,1,1,,,,,", options=ParseOptions(default_list="\u200b"))
    assert result.refused
