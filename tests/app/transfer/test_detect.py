"""Formats are told apart by what files hold, and `parse_upload` reads any of them; the
hostile files of the issue each get a clear refusal, quickly, whatever their name."""

from __future__ import annotations

import io
import time

import pytest

from tests.app.transfer.samples import FILES, LISTS, NOW, TASKS
from webapp.transfer.csv_format import render_csv
from webapp.transfer.detect import detect_format, parse_upload
from webapp.transfer.ics_format import render_ics
from webapp.transfer.json_format import render_json
from webapp.transfer.records import Format, ParseOptions

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tasks-export-v1.json", Format.TASKS_JSON),
        ("tasks.csv", Format.TASKS_CSV),
        ("todoist-groceries.csv", Format.TODOIST_CSV),
        ("nextcloud-personal.ics", Format.ICALENDAR),
        ("tasks-org.ics", Format.ICALENDAR),
        ("thunderbird.ics", Format.ICALENDAR),
    ],
)
def test_each_file_is_known_by_its_content_whatever_its_name(name: str, expected: Format) -> None:
    data = (FILES / name).read_bytes()
    for filename in (name, "upload.txt", "upload.bin", None):
        result = parse_upload(data, filename=filename)
        assert result.format is expected
        assert result.tasks


def test_our_exports_are_recognised() -> None:
    exports = {
        Format.TASKS_JSON: b"".join(render_json(LISTS, TASKS, exported_at=NOW)),
        Format.TASKS_CSV: b"".join(render_csv(TASKS)),
        Format.ICALENDAR: b"".join(render_ics(TASKS, calendar_name="All", dtstamp=NOW)),
    }
    for expected, data in exports.items():
        result = parse_upload(io.BytesIO(data))
        assert (result.format, result.problems) == (expected, [])
        assert len(result.tasks) == len(TASKS)


@pytest.mark.parametrize(
    ("text", "filename", "expected"),
    [
        ('  \n{"format": "tasks-export"}', None, Format.TASKS_JSON),
        ("[1, 2]", None, Format.TASKS_JSON),
        ("begin:vcalendar\r\n", None, Format.ICALENDAR),
        ("TYPE;CONTENT;PRIORITY\n", None, Format.TODOIST_CSV),
        ("Title\tNotes\n", None, Format.TASKS_CSV),
        ("name,due\n", "tasks.CSV", Format.TASKS_CSV),
        ("whatever", "tasks.ics", Format.ICALENDAR),
        ("whatever", "tasks.json", Format.TASKS_JSON),
        ("name,due\n", None, None),
        ("Dear diary", "notes.md", None),
    ],
)
def test_content_first_then_the_extension(
    text: str, filename: str | None, expected: Format | None
) -> None:
    assert detect_format(text, filename) is expected


def test_a_todoist_export_goes_to_a_list_named_after_the_file() -> None:
    data = (FILES / "todoist-groceries.csv").read_bytes()
    assert {t.list_name for t in parse_upload(data, filename="Groceries.csv").tasks} == {
        "Groceries"
    }
    chosen = parse_upload(data, filename="Groceries.csv", options=ParseOptions(default_list="Food"))
    assert {task.list_name for task in chosen.tasks} == {"Food"}
    assert {task.list_name for task in parse_upload(data).tasks} == {None}


def test_an_unknown_format_is_refused_saying_what_is_read() -> None:
    result = parse_upload(b"Dear diary,\ntoday I did nothing.\n", filename="diary.md")
    assert result.refused
    assert result.format is None
    assert "JSON or CSV export, Todoist's CSV export, and iCalendar" in result.problems[0].message


# --- the hostile files of the issue -----------------------------------------------------


def refused_quickly(data: bytes | io.BytesIO, filename: str | None = None) -> str:
    started = time.monotonic()
    result = parse_upload(data, filename=filename)
    assert time.monotonic() - started < 3
    assert result.refused
    assert result.tasks == []
    return result.problems[0].message


@pytest.mark.parametrize("filename", ["big.csv", "big.json", "big.ics"])
def test_a_file_over_20_mib_is_refused_before_it_is_read(filename: str) -> None:
    upload = io.BytesIO(b"title\n" + b"x\n" * (10 * MiB + 1))
    assert "larger than 20 MiB" in refused_quickly(upload, filename)
    assert upload.tell() == 20 * MiB + 1


def test_the_limit_is_a_parameter() -> None:
    data = (FILES / "tasks.csv").read_bytes()
    assert parse_upload(data, options=ParseOptions(max_bytes=len(data))).valid
    assert parse_upload(data, options=ParseOptions(max_bytes=len(data) - 1)).refused


@pytest.mark.parametrize("filename", ["photo.csv", "photo.json", "photo.ics", None])
def test_a_binary_file_is_refused(filename: str | None) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 100
    assert "binary" in refused_quickly(png, filename)


def test_a_file_that_is_not_utf8_is_refused() -> None:
    latin1 = "title\nCafé crème\n".encode("latin-1")
    assert "not UTF-8 text (byte 0xE9 on line 2)" in refused_quickly(latin1, "tasks.csv")


def test_json_nested_50000_deep_is_refused() -> None:
    nested = b'{"format": "tasks-export", "version": 1, "lists": [], "tasks": ['
    nested += b"[" * 50_000 + b"]" * 50_000 + b"]}"
    assert "nested too deeply" in refused_quickly(nested, "export.json")


def test_a_csv_with_a_10_mib_cell_is_refused() -> None:
    data = b"title,notes\nfine,\nhuge," + b"n" * (10 * MiB) + b"\n"
    assert "Line 3 is longer than" in refused_quickly(data, "tasks.csv")


def test_an_ics_without_vtodo_is_refused() -> None:
    message = refused_quickly((FILES / "events-only.ics").read_bytes(), "calendar.ics")
    assert "no task (VTODO)" in message
