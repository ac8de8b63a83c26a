"""Records for the format tests: an account with every kind of task a format must carry,
and a lazy supply of many tasks for the streaming tests."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

from webapp.transfer.records import UTC, ListRecord, TaskRecord

FILES = Path(__file__).parent / "files"
NOW = datetime.datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC)

HOME = ListRecord(name="Home", source_id="01938c5e-0000-7000-8000-00000000000a", created_at=NOW)
WORK = ListRecord(
    name='Work, "Q4"; ünïcödé 🎯',
    source_id="01938c5e-0000-7000-8000-00000000000b",
    created_at=NOW - datetime.timedelta(days=30, microseconds=7),
)
LISTS = [HOME, WORK]


def _task(number: int, home: bool = True, **fields: object) -> TaskRecord:
    list_ = HOME if home else WORK
    values: dict[str, object] = {
        "source_id": f"01938c5e-8a4b-7c2d-9e0f-{number:012d}",
        "title": f"Task {number}",
        "created_at": NOW - datetime.timedelta(hours=number, microseconds=number),
        "list_name": list_.name,
        "list_source_id": list_.source_id,
    }
    values.update(fields)
    return TaskRecord(**values)  # type: ignore[arg-type]


# Every priority, due dates, completed tasks, notes that need quoting and escaping in
# every format, titles a spreadsheet would run as formulas, the longest title and notes,
# a task in no list.
TASKS = [
    _task(1, title="Buy milk", notes="Semi-skimmed,\n2 litres", priority="high"),
    _task(2, home=False, priority="medium", due_date=datetime.date(2026, 12, 24)),
    _task(3, priority="low", completed_at=NOW - datetime.timedelta(minutes=5, microseconds=3)),
    _task(4, title='=HYPERLINK("http://evil.example")', notes="=1+1"),
    _task(5, title="+cmd", notes="-2"),
    _task(6, title="@SUM(A1)", notes="\tstarts with a tab"),
    _task(7, title="'quoted already", notes="\r\nstarts with a line break"),
    _task(8, title='Commas, "quotes"; semicolons \\ backslashes', notes='a;b,c\\d"e'),
    _task(9, title="T" * 200, notes="N" * 10_000),
    _task(10, title="Ünïcödé ✓ 日本語 🎉", notes="Line one\nLine two\n\nLine four\ttab"),
    _task(11, home=False, list_name=None, list_source_id=None, title="No list"),
    _task(12, created_at=None, title="Created at an unknown time"),
]
TRASHED = _task(13, title="In the trash", deleted_at=NOW - datetime.timedelta(days=1))


def many_tasks(count: int) -> Iterator[TaskRecord]:
    """`count` tasks, made one at a time (nothing holds them all)."""
    for number in range(count):
        yield TaskRecord(
            source_id=f"01938c5e-8a4b-7c2d-9e0f-{number:012d}",
            title=f"Task number {number}, with a comma",
            notes="Some notes\nwith two lines" if number % 3 else "",
            priority=("none", "low", "medium", "high")[number % 4],
            due_date=datetime.date(2026, 1, 1) + datetime.timedelta(days=number % 365),
            completed_at=NOW if number % 2 else None,
            created_at=NOW,
            list_name=HOME.name,
            list_source_id=HOME.source_id,
        )
