"""iCalendar: VTODOs written with icalendar that a second parser (vobject) reads the same,
round trips, what Nextcloud Tasks, Tasks.org and Thunderbird write, and a reader that
names the VTODO, property and line of each problem and refuses what is not a calendar."""

from __future__ import annotations

import datetime
import time

import msgspec
import pytest
import vobject

from tests.app.transfer.samples import FILES, NOW, TASKS, TRASHED, many_tasks
from webapp.transfer.ics_format import IcsExportWriter, parse_ics, render_ics
from webapp.transfer.records import UTC, ParseOptions, ParseResult, TaskRecord

BERLIN = ParseOptions.for_zone("Europe/Berlin")


def export(tasks: list[TaskRecord], calendar_name: str | None = None) -> bytes:
    return b"".join(render_ics(tasks, calendar_name=calendar_name, dtstamp=NOW))


def as_ics(task: TaskRecord) -> TaskRecord:
    """What iCalendar carries of a task: times to the second, one kind of line break,
    no list id."""

    def second(value: datetime.datetime | None) -> datetime.datetime | None:
        return value.replace(microsecond=0) if value else None

    return msgspec.structs.replace(
        task,
        notes=task.notes.replace("\r\n", "\n"),
        completed_at=second(task.completed_at),
        created_at=second(task.created_at),
        list_source_id=None,
    )


def calendar(*lines: str, name: str | None = None) -> bytes:
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Tasks tests//by hand//EN"]
    if name:
        head.append(f"X-WR-CALNAME:{name}")
    return "\r\n".join([*head, *lines, "END:VCALENDAR", ""]).encode()


def todo(*lines: str, uid: str = "u1", summary: str | None = "A task") -> list[str]:
    props = [f"UID:{uid}", "DTSTAMP:20261101T100000Z"]
    if summary is not None:
        props.append(f"SUMMARY:{summary}")
    return ["BEGIN:VTODO", *props, *lines, "END:VTODO"]


def parse(*lines: str, options: ParseOptions | None = None) -> ParseResult:
    return parse_ics(calendar(*lines), options)


# --- writing ----------------------------------------------------------------------------


def test_the_round_trip_gives_back_what_icalendar_carries() -> None:
    result = parse_ics(export([*TASKS, TRASHED]))
    assert result.problems == []
    assert result.tasks == [as_ics(task) for task in TASKS]


def test_a_file_per_list_names_the_calendar_after_the_list() -> None:
    no_list = [task for task in TASKS if task.list_name is None]
    result = parse_ics(export(no_list, calendar_name="Errands"))
    # A task without X-TASKS-LIST goes to the list the calendar names.
    assert [task.list_name for task in result.tasks] == ["Errands"]
    assert b"X-WR-CALNAME:Errands\r\n" in export(no_list, calendar_name="Errands")


def test_a_second_parser_reads_the_export_the_same() -> None:
    data = export([*TASKS, TRASHED], calendar_name="All, of them")
    parsed = vobject.readOne(data.decode(), validate=True)
    assert parsed.contents["x-wr-calname"][0].value == "All, of them"
    assert parsed.prodid.value == "-//Tasks//Tasks export//EN"
    todos = parsed.vtodo_list
    assert len(todos) == len(TASKS)
    for task, vtodo in zip(TASKS, todos, strict=True):
        props = vtodo.contents
        assert vtodo.uid.value == task.source_id
        assert vtodo.summary.value == task.title
        assert vtodo.dtstamp.value == NOW.replace(microsecond=0)
        if task.notes:
            assert vtodo.description.value == task.notes.replace("\r\n", "\n")
        else:
            assert "description" not in props
        expected_priority = {"high": "1", "medium": "5", "low": "9"}.get(task.priority)
        assert (vtodo.priority.value if "priority" in props else None) == expected_priority
        if task.due_date:
            assert vtodo.due.value == task.due_date
            assert vtodo.due.params["VALUE"] == ["DATE"]
        else:
            assert "due" not in props
        if task.completed_at:
            assert vtodo.status.value == "COMPLETED"
            assert vtodo.completed.value == task.completed_at.replace(microsecond=0)
            assert vtodo.contents["percent-complete"][0].value == "100"
        else:
            assert vtodo.status.value == "NEEDS-ACTION"
            assert "completed" not in props
        if task.created_at:
            assert vtodo.created.value == task.created_at.replace(microsecond=0)
        lists = [item.value for item in props.get("x-tasks-list", [])]
        assert lists == ([task.list_name] if task.list_name else [])
        assert "categories" not in props


def test_lines_are_crlf_and_folded_at_75_octets() -> None:
    data = export(TASKS)
    assert data.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert data.endswith(b"END:VCALENDAR\r\n")
    lines = data.split(b"\r\n")
    assert b"\n" not in b"".join(lines)
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # the 10,000-character notes


def test_the_writer_takes_batches_and_skips_the_trash() -> None:
    writer = IcsExportWriter(calendar_name=None, dtstamp=NOW)
    data = writer.head() + writer.todos(TASKS[:4]) + writer.todos([TRASHED])
    data += writer.todos(TASKS[4:]) + writer.tail()
    assert data == export([*TASKS, TRASHED])


def test_the_stream_is_written_in_chunks() -> None:
    chunks = list(render_ics(many_tasks(1000), calendar_name="Home", dtstamp=NOW))
    assert len(chunks) > 2
    assert max(len(chunk) for chunk in chunks) < 80 * 1024
    assert len(parse_ics(b"".join(chunks)).tasks) == 1000


# --- what other apps write --------------------------------------------------------------


def test_nextcloud_tasks() -> None:
    result = parse_ics((FILES / "nextcloud-personal.ics").read_bytes(), BERLIN)
    assert result.problems == []
    passport, form, dentist = result.tasks
    assert {task.list_name for task in result.tasks} == {"Personal"}
    assert passport.source_id == "5f1c0a3e-2b7d-4e8a-9c61-0d2f4b6a8e10"
    assert passport.notes == "Bring two photos, the old passport\nand the form."
    assert (passport.priority, passport.due_date) == ("high", datetime.date(2026, 12, 15))
    assert passport.completed_at is None  # PERCENT-COMPLETE:20
    assert passport.created_at == datetime.datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    assert form.completed_at == datetime.datetime(2026, 11, 3, 6, 59, 59, tzinfo=UTC)
    assert (form.priority, form.due_date) == ("medium", datetime.date(2026, 11, 3))
    # DUE:20261120T230000Z is midnight of the 21st in Berlin.
    assert (dentist.priority, dentist.due_date) == ("low", datetime.date(2026, 11, 21))
    assert result.ignored == {"CATEGORIES": 1, "RELATED-TO": 1, "VEVENT": 1}


def test_tasks_org() -> None:
    result = parse_ics((FILES / "tasks-org.ics").read_bytes(), ParseOptions(default_list="Inbox"))
    assert result.problems == []
    plants, seeds, fence = result.tasks
    # No calendar name: the first category is the list, else the default.
    assert [task.list_name for task in result.tasks] == ["Garden", "Inbox", "Inbox"]
    assert (plants.priority, plants.due_date) == ("medium", datetime.date(2026, 11, 7))
    assert (seeds.priority, seeds.notes) == ("none", "Tomatoes; basil")
    assert seeds.due_date == datetime.date(2026, 11, 6)  # 21:00 in New York, its own date
    assert seeds.completed_at == datetime.datetime(2026, 11, 6, 19, 29, 59, tzinfo=UTC)
    # Done by PERCENT-COMPLETE alone, at its LAST-MODIFIED time.
    assert fence.completed_at == datetime.datetime(2026, 11, 7, 10, 10, 10, tzinfo=UTC)
    assert result.ignored == {"VALARM": 1, "RRULE": 1, "CATEGORIES": 1, "RELATED-TO": 1}


def test_thunderbird() -> None:
    result = parse_ics((FILES / "thunderbird.ics").read_bytes(), BERLIN)
    assert result.problems == []
    slides, train, cancelled = result.tasks
    assert slides.title == "Prepare the slides"
    assert slides.notes.startswith(
        "Twelve slides at most. Use the new template from the shared drive,"
    )
    assert (slides.priority, slides.list_name) == ("high", "Business")
    assert slides.due_date == datetime.date(2026, 11, 9)
    assert slides.completed_at == datetime.datetime(2026, 11, 8, 16, 29, 59, tzinfo=UTC)
    assert (train.completed_at, train.due_date) == (None, datetime.date(2026, 12, 1))
    assert cancelled.completed_at == datetime.datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    assert [(warning.component, warning.property) for warning in result.warnings] == [(3, "STATUS")]
    assert result.ignored == {"VEVENT": 1, "VALARM": 1, "RRULE": 1}


def test_a_calendar_of_events_only_is_refused() -> None:
    result = parse_ics((FILES / "events-only.ics").read_bytes())
    assert result.refused
    assert "no task (VTODO)" in result.problems[0].message
    assert "1 event" in result.problems[0].message


# --- the reader's rules -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "priority"),
    [("0", "none"), ("1", "high"), ("4", "high"), ("5", "medium"), ("6", "low"), ("9", "low")],
)
def test_rfc_5545_priorities(value: str, priority: str) -> None:
    assert parse(*todo(f"PRIORITY:{value}")).tasks[0].priority == priority


@pytest.mark.parametrize(
    ("lines", "done"),
    [
        ([], False),
        (["STATUS:NEEDS-ACTION"], False),
        (["STATUS:IN-PROCESS", "PERCENT-COMPLETE:100"], False),
        (["STATUS:NEEDS-ACTION", "COMPLETED:20261102T100000Z"], False),
        (["STATUS:COMPLETED"], True),
        (["STATUS:CANCELLED"], True),
        (["COMPLETED:20261102T100000Z"], True),
        (["PERCENT-COMPLETE:100"], True),
        (["PERCENT-COMPLETE:99"], False),
    ],
)
def test_what_makes_a_task_completed(lines: list[str], done: bool) -> None:
    task = parse(*todo(*lines)).tasks[0]
    assert (task.completed_at is not None) is done


def test_the_time_of_completion_falls_back_to_last_modified_then_dtstamp() -> None:
    completed = parse(*todo("STATUS:COMPLETED", "COMPLETED:20261102T100000Z")).tasks[0]
    assert completed.completed_at == datetime.datetime(2026, 11, 2, 10, tzinfo=UTC)
    modified = parse(*todo("STATUS:COMPLETED", "LAST-MODIFIED:20261103T100000Z")).tasks[0]
    assert modified.completed_at == datetime.datetime(2026, 11, 3, 10, tzinfo=UTC)
    stamped = parse(*todo("STATUS:COMPLETED")).tasks[0]
    assert stamped.completed_at == datetime.datetime(2026, 11, 1, 10, tzinfo=UTC)


def test_due_dates_in_every_form() -> None:
    result = parse(
        *todo("DUE;VALUE=DATE:20261224", uid="date"),
        *todo("DUE:20261224T233000", uid="floating"),
        *todo("DUE;TZID=Asia/Tokyo:20261224T003000", uid="tzid"),
        *todo("DUE:20261224T233000Z", uid="utc"),
        options=BERLIN,
    )
    assert [task.due_date for task in result.tasks] == [
        datetime.date(2026, 12, 24),
        datetime.date(2026, 12, 24),
        datetime.date(2026, 12, 24),
        datetime.date(2026, 12, 25),  # 00:30 in Berlin
    ]


def test_times_with_a_tzid_use_the_zone_it_names_or_the_files_vtimezone() -> None:
    custom_zone = [
        "BEGIN:VTIMEZONE",
        "TZID:My Office Time",
        "BEGIN:STANDARD",
        "DTSTART:19700101T000000",
        "TZOFFSETFROM:+0300",
        "TZOFFSETTO:+0300",
        "END:STANDARD",
        "END:VTIMEZONE",
    ]
    result = parse(
        *custom_zone,
        *todo("CREATED;TZID=Europe/Berlin:20260701T120000", uid="iana"),
        *todo('CREATED;TZID="W. Europe Standard Time":20260701T120000', uid="windows"),
        *todo("CREATED;TZID=My Office Time:20260701T120000", uid="custom"),
        *todo("CREATED;TZID=/mozilla.org/20070129_1/Europe/Berlin:20260701T120000", uid="global"),
        *todo("CREATED;TZID=Nowhere/Special:20260701T120000", uid="unknown"),
    )
    assert [task.created_at for task in result.tasks] == [
        datetime.datetime(2026, 7, 1, 10, tzinfo=UTC),
        datetime.datetime(2026, 7, 1, 10, tzinfo=UTC),
        datetime.datetime(2026, 7, 1, 9, tzinfo=UTC),
        datetime.datetime(2026, 7, 1, 10, tzinfo=UTC),
    ]
    assert [(p.component, p.property) for p in result.problems] == [(5, "CREATED")]
    assert "Nowhere/Special" in result.problems[0].message


def test_the_list_comes_from_x_tasks_list_then_the_calendar_then_categories() -> None:
    lines = [
        *todo("X-TASKS-LIST:Own", "CATEGORIES:Tag", uid="own"),
        *todo("CATEGORIES:First\\, with a comma,Second", uid="category"),
        *todo(uid="default"),
    ]
    without_name = parse_ics(calendar(*lines), ParseOptions(default_list="Inbox"))
    assert [task.list_name for task in without_name.tasks] == [
        "Own",
        "First, with a comma",
        "Inbox",
    ]
    named = parse_ics(calendar(*lines, name="Calendar"), ParseOptions(default_list="Inbox"))
    assert [task.list_name for task in named.tasks] == ["Own", "Calendar", "Calendar"]
    assert named.ignored == {"CATEGORIES": 2}


def test_each_problem_names_its_vtodo_property_and_line() -> None:
    data = calendar(
        *todo(uid="fine"),  # lines 4-8
        *todo("PRIORITY:high", "DUE:next week", "PERCENT-COMPLETE:150", uid="bad"),  # 9-16
        *todo(summary=None, uid="untitled"),  # 17-20: the problem is at its BEGIN
        *todo("this is no property", summary="Bell \\n\x07", uid="broken"),  # 21-26
        *todo(uid="fine"),  # 27-31
    )
    result = parse_ics(data)
    assert [(p.component, p.property, p.line) for p in result.problems] == [
        (2, "PRIORITY", 13),
        (2, "DUE", 14),
        (2, "PERCENT-COMPLETE", 15),
        (3, "SUMMARY", 17),
        (4, None, 25),
        (4, "SUMMARY", 24),
        (5, "UID", 28),
    ]
    assert str(result.problems[0]) == (
        "VTODO 2, line 13, PRIORITY: PRIORITY 'high' is not a whole number from 0 to 9."
    )
    assert "VTODO 1" in result.problems[-1].message
    assert [task.source_id for task in result.tasks] == ["fine"]


def test_a_changed_occurrence_of_a_repeating_task_is_skipped() -> None:
    result = parse(
        *todo("RRULE:FREQ=DAILY", uid="r"),
        *todo("RECURRENCE-ID:20261102T100000Z", uid="r"),
    )
    assert result.problems == []
    assert len(result.tasks) == 1
    assert result.ignored == {"RRULE": 1, "RECURRENCE-ID": 1}


def test_a_vtodo_without_uid_gets_a_stable_derived_identity() -> None:
    lines = ["BEGIN:VTODO", "SUMMARY:Nameless", "END:VTODO"] * 2
    first = [task.source_id for task in parse(*lines).tasks]
    assert first == [task.source_id for task in parse(*lines).tasks]
    assert first[1] == first[0] + "#2"


def test_folding_with_a_tab_and_lf_line_ends_are_read() -> None:
    data = (
        b"BEGIN:VCALENDAR\nBEGIN:VTODO\nUID:u\nSUMMARY:Long\n\t title\nEND:VTODO\nEND:VCALENDAR\n"
    )
    assert parse_ics(data).tasks[0].title == "Long title"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"BEGIN:VCARD\r\nFN:Ann\r\nEND:VCARD\r\n", "not an iCalendar file"),
        (b"hello\r\n", "not an iCalendar file"),
        (calendar(*todo())[: -len(b"END:VCALENDAR\r\n")], "cut short"),
        (calendar("BEGIN:VTODO", "END:VEVENT"), "ends VEVENT where END:VTODO was due"),
        (calendar(*todo(), "END:VTODO"), "ends VTODO where END:VCALENDAR was due"),
        (calendar(), "no task (VTODO)"),
        (calendar(*(["BEGIN:X"] * 50_000), *(["END:X"] * 50_000)), "nested more than 8 deep"),
    ],
)
def test_what_is_not_a_calendar_of_tasks_is_refused(data: bytes, message: str) -> None:
    started = time.monotonic()
    result = parse_ics(data)
    assert time.monotonic() - started < 2
    assert result.refused
    assert message in result.problems[0].message
    assert result.tasks == []


def test_a_property_of_megabytes_is_refused_quickly() -> None:
    folded = "\r\n ".join(["x" * 74] * (3 * 1024 * 1024 // 74))
    for line in (f"DESCRIPTION:{folded}", "DESCRIPTION:" + "x" * (10 * 1024 * 1024)):
        started = time.monotonic()
        result = parse(*todo(line))
        assert time.monotonic() - started < 3
        assert result.refused
        assert "longer than" in result.problems[0].message


def test_more_vtodos_than_the_limit_refuse_the_file() -> None:
    lines = [line for number in range(11) for line in todo(uid=str(number))]
    result = parse(*lines, options=ParseOptions(max_tasks=10))
    assert result.refused
    assert "more than 10 tasks" in result.problems[0].message
