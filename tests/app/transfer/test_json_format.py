"""Our JSON export: lossless round trips, a valid document written incrementally, and a
reader that reports every bad field by its path and refuses what is not ours."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import msgspec
import pytest

from tests.app.transfer.samples import FILES, LISTS, NOW, TASKS, TRASHED, many_tasks
from webapp.transfer.json_format import JsonExportWriter, parse_json, render_json
from webapp.transfer.records import UTC, ParseOptions, ParseResult


def export(include_trash: bool = False) -> bytes:
    return b"".join(
        render_json(LISTS, [*TASKS, TRASHED], exported_at=NOW, include_trash=include_trash)
    )


def document(**changes: Any) -> dict[str, Any]:
    """A small valid document, with some members replaced."""
    doc: dict[str, Any] = {
        "format": "tasks-export",
        "version": 1,
        "exported_at": "2026-11-26T09:30:00Z",
        "includes_trash": False,
        "lists": [{"id": "L1", "name": "Home", "created_at": None}],
        "tasks": [{"id": "T1", "list_id": "L1", "title": "Buy milk"}],
    }
    doc.update(changes)
    return doc


def parse(doc: Any, options: ParseOptions | None = None) -> ParseResult:
    return parse_json(json.dumps(doc).encode(), options)


def test_the_round_trip_gives_back_the_same_lists_and_tasks() -> None:
    result = parse_json(export())
    assert result.problems == []
    assert result.lists == LISTS
    assert result.tasks == TASKS


def test_the_trash_goes_out_and_comes_back_only_when_asked_for() -> None:
    assert TRASHED not in parse_json(export()).tasks
    with_trash = parse_json(export(include_trash=True))
    assert with_trash.tasks == [*TASKS, TRASHED]
    assert with_trash.tasks[-1].deleted_at == TRASHED.deleted_at


def test_the_document_is_the_versioned_envelope_with_one_item_per_line() -> None:
    data = export(include_trash=True)
    doc = json.loads(data)
    assert doc["format"] == "tasks-export"
    assert doc["version"] == 1
    assert doc["exported_at"] == "2026-11-26T09:30:00.123456Z"
    assert doc["includes_trash"] is True
    assert [item["name"] for item in doc["lists"]] == [HOME_NAME, WORK_NAME]
    assert doc["tasks"][0] == {
        "id": TASKS[0].source_id,
        "list_id": LISTS[0].source_id,
        "title": "Buy milk",
        "notes": "Semi-skimmed,\n2 litres",
        "priority": "high",
        "due_date": None,
        "completed_at": None,
        "created_at": "2026-11-26T08:30:00.123455Z",
        "deleted_at": None,
    }
    # Readable and diffable: the envelope, then a line per list and per task.
    assert len(data.splitlines()) == 1 + len(LISTS) + 1 + len(TASKS) + 1 + 1


HOME_NAME, WORK_NAME = LISTS[0].name, LISTS[1].name


def test_an_empty_account_is_a_valid_document() -> None:
    data = b"".join(render_json([], [], exported_at=NOW))
    assert json.loads(data)["tasks"] == []
    result = parse_json(data)
    assert (result.lists, result.tasks, result.problems) == ([], [], [])


def test_the_writer_takes_batches_in_order_and_refuses_them_out_of_order() -> None:
    writer = JsonExportWriter(exported_at=NOW)
    parts = [writer.head(), writer.lists(LISTS[:1]), writer.lists(LISTS[1:])]
    parts += [writer.tasks(TASKS[:5]), writer.tasks(TASKS[5:]), writer.tasks([]), writer.tail()]
    assert json.loads(b"".join(parts)) == json.loads(export())
    with pytest.raises(RuntimeError):
        writer.tasks(TASKS)
    late = JsonExportWriter(exported_at=NOW)
    late.head()
    late.tasks([])
    with pytest.raises(RuntimeError):
        late.lists(LISTS)


def test_a_list_without_an_id_cannot_be_exported() -> None:
    with pytest.raises(ValueError, match="id of every list"):
        b"".join(
            render_json([msgspec.structs.replace(LISTS[0], source_id=None)], [], exported_at=NOW)
        )


def test_the_stream_is_valid_json_in_chunks_of_bounded_size() -> None:
    chunks = list(render_json(LISTS, many_tasks(5000), exported_at=NOW, include_trash=False))
    assert len(chunks) > 10
    assert max(len(chunk) for chunk in chunks) < 80 * 1024
    doc = json.loads(b"".join(chunks))
    assert len(doc["tasks"]) == 5000


def test_the_hand_written_export_is_read() -> None:
    result = parse_json((FILES / "tasks-export-v1.json").read_bytes())
    assert result.problems == []
    assert [item.name for item in result.lists] == ["Home", "Work \u2013 Q4 \U0001f3af"]
    titles = [task.title for task in result.tasks]
    assert titles == ["Buy milk", "Send the report", '=HYPERLINK("x") is just a title', "Old idea"]
    first, second, third, trashed = result.tasks
    assert first.list_name == "Home"
    assert first.created_at == datetime.datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC)
    assert second.completed_at == datetime.datetime(2026, 11, 20, 17, 45, 10, tzinfo=UTC)
    assert third.list_name is None
    assert third.created_at == datetime.datetime(2026, 10, 31, 22, 0, tzinfo=UTC)
    assert trashed.deleted_at == datetime.datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[]", "not a Tasks export (it is not a JSON object)"),
        (b'"tasks"', "not a Tasks export"),
        (b'{"tasks": []}', 'its "format" is not "tasks-export"'),
        (b'{"format": "todoist-backup", "version": 1}', 'its "format" is not "tasks-export"'),
        (b'{"format": "tasks-export"}', '"version"'),
        (b'{"format": "tasks-export", "version": "1"}', '"version"'),
        (b'{"format": "tasks-export", "version": 0}', '"version"'),
        (b'{"format": "tasks-export", "version": 2}', "version 2, made by a newer Tasks"),
        (b'{"format": "tasks-export", "version": 1, "tasks": []}', '"lists" must be an array'),
        (b'{"format": "tasks-export", "version": 1, "lists": [], "tasks": {}}', '"tasks" must be'),
        (b'{"format": "tasks-export", "version": 1,\n "lists": [],}', "trailing comma"),
    ],
)
def test_other_shapes_and_future_versions_are_refused_clearly(data: bytes, message: str) -> None:
    result = parse_json(data)
    assert result.refused
    assert result.tasks == []
    assert message in result.problems[0].message


def test_malformed_json_names_the_line() -> None:
    result = parse_json(b'{"format": "tasks-export",\n"version": 1,\n"lists": [,]}')
    assert result.refused
    assert "(line 3)" in result.problems[0].message


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_json_nested_50000_deep_is_refused_without_a_crash(opening: bytes) -> None:
    closing = b"]" if opening == b"[" else b"}"
    nested = opening * 50_000 + b"1" + closing * 50_000
    for data, message in (
        # msgspec raises RecursionError on such depth (caught); a bare array is refused
        # before, for not being an object.
        (nested, "nested too deeply" if opening != b"[" else "not a JSON object"),
        (
            b'{"format": "tasks-export", "version": 1, "lists": [], "tasks": [' + nested + b"]}",
            "nested too deeply",
        ),
        (b'{"junk": ' + nested + b', "format": "tasks-export"}', "nested too deeply"),
    ):
        started = time.monotonic()
        result = parse_json(data)
        assert time.monotonic() - started < 2
        assert result.refused
        assert message in result.problems[0].message


def test_every_bad_field_is_a_problem_with_its_path_and_the_good_tasks_are_kept() -> None:
    tasks: list[Any] = [
        {"id": "T0", "title": "Fine"},
        {"id": "T1", "title": "", "notes": "bell\x07", "priority": "urgent"},
        {"id": "T2", "title": 12, "due_date": "2026-02-30", "completed_at": "2026-11-26T10:00:00"},
        {"id": "T3", "title": "x" * 201, "list_id": "nope"},
        "not an object",
        {"notes": "no title"},
        {"id": "T0", "title": "Same id as the first"},
        {"id": "T7", "title": "Fine too", "deleted_at": "2026-11-26T10:00:00+01:00"},
    ]
    result = parse(document(tasks=tasks))
    assert not result.refused
    where = {(problem.path, problem.message.split(" ")[0]) for problem in result.problems}
    assert {path for path, _ in where} == {
        "tasks[1].title",
        "tasks[1].notes",
        "tasks[1].priority",
        "tasks[2].title",
        "tasks[2].due_date",
        "tasks[2].completed_at",
        "tasks[3].title",
        "tasks[3].list_id",
        "tasks[4]",
        "tasks[5].title",
        "tasks[6].id",
    }
    assert result.problem_count == len(result.problems) == 11
    assert [task.source_id for task in result.tasks] == ["T0", "T7"]
    assert result.tasks[1].deleted_at == datetime.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    messages = {problem.path: problem.message for problem in result.problems}
    assert "empty" in messages["tasks[1].title"]
    assert "U+0007" in messages["tasks[1].notes"]
    assert "200" in messages["tasks[3].title"]
    assert "timezone" in messages["tasks[2].completed_at"]
    assert messages["tasks[5].title"] == "Is missing."
    assert "tasks[0]" in messages["tasks[6].id"]


def test_bad_lists_are_problems_and_their_tasks_say_why_they_are_left_out() -> None:
    lists = [
        {"id": "L1", "name": "Home"},
        {"id": "L2", "name": "\u200b"},
        {"id": "L1", "name": "Same id"},
        {"name": "No id"},
    ]
    tasks = [{"id": "T1", "list_id": "L2", "title": "In a bad list"}, {"title": "No list"}]
    result = parse(document(lists=lists, tasks=tasks))
    paths = [problem.path for problem in result.problems]
    assert paths == ["lists[1].name", "lists[2].id", "lists[3].id", "tasks[0].list_id"]
    assert [item.name for item in result.lists] == ["Home"]
    assert [task.title for task in result.tasks] == ["No list"]


def test_a_task_without_an_id_gets_a_stable_derived_one() -> None:
    doc = document(tasks=[{"title": "Same"}, {"title": "Same"}, {"title": "Other"}])
    ids = [task.source_id for task in parse(doc).tasks]
    assert ids == [task.source_id for task in parse(doc).tasks]
    assert ids[0].startswith("sha256:")
    assert ids[1] == ids[0] + "#2"
    assert len(set(ids)) == 3


def test_problems_past_the_limit_are_counted_not_kept() -> None:
    result = parse(document(tasks=[{"title": ""}] * 30), ParseOptions(max_problems=10))
    assert len(result.problems) == 10
    assert result.problem_count == 30
    assert not result.valid


def test_more_tasks_than_the_limit_refuse_the_file_before_they_are_decoded() -> None:
    result = parse(document(tasks=[{"title": "a, [b]"}] * 11), ParseOptions(max_tasks=10))
    assert result.refused
    assert "more than 10 tasks" in result.problems[0].message
    assert parse(document(tasks=[{"title": "a, [b]"}] * 10), ParseOptions(max_tasks=10)).valid
    # 20 MiB of "{}," is 7 million items: refused by counting, in well under a second.
    hostile = b'{"format":"tasks-export","version":1,"lists":[],"tasks":[' + b"{}," * 7_000_000
    started = time.monotonic()
    result = parse_json(hostile + b"{}]}", ParseOptions(max_bytes=30 * 1024 * 1024))
    assert time.monotonic() - started < 3
    assert result.refused
