"""iCalendar (RFC 5545): tasks as VTODOs, written with the `icalendar` package and read
from what Nextcloud Tasks, Tasks.org and Thunderbird write.

| VTODO property | task record | written | read |
|---|---|---|---|
| `UID` | `source_id` | the task's id | missing: a hash of list, summary, description and due date |
| `SUMMARY` | `title` | as is | required; the app's rules |
| `DESCRIPTION` | `notes` | when there are notes (CRLF becomes LF: TEXT has one line break) | |
| `PRIORITY` | `priority` | 1 high, 5 medium, 9 low; none: not written | 1-4 high, 5 medium, 6-9 low, 0 or absent none |
| `DUE` | `due_date` | a DATE value | a DATE; a DATE-TIME's date where it is (its TZID, or floating), a UTC one's in the user's zone |
| `STATUS`, `COMPLETED`, `PERCENT-COMPLETE` | `completed_at` | COMPLETED (UTC), STATUS:COMPLETED, PERCENT-COMPLETE:100; else STATUS:NEEDS-ACTION | STATUS decides when given (COMPLETED: done; CANCELLED: done, with a warning; NEEDS-ACTION and IN-PROCESS: not); without it, a COMPLETED time or PERCENT-COMPLETE:100. The time: COMPLETED, else LAST-MODIFIED, else DTSTAMP |
| `CREATED` | `created_at` | UTC | |
| `X-TASKS-LIST` | `list_name` | the task's list | the list, before any other source |
| `X-WR-CALNAME` (calendar) | `list_name` | the list's name (one file per list) or the caller's name for all | the list of its tasks without X-TASKS-LIST |
| `CATEGORIES` | `list_name` | not written (other apps take categories as tags) | the first category is the list when neither above is given; otherwise ignored (counted) |
| `DTSTAMP` | | the time of the export (RFC 5545 requires it) | a completion's time of last resort |
| `RRULE`, `RDATE`, `EXDATE` | | | ignored, counted: the task is imported once |
| `RECURRENCE-ID` | | | a changed occurrence of a repeating task: skipped, counted |
| `RELATED-TO` | | | sub-tasks become top-level tasks, counted |
| `VALARM` | | | ignored, counted |
| other X- properties, `DTSTART`, `CLASS`, `SEQUENCE`... | | | ignored |

Times have whole seconds in iCalendar: a round trip keeps `completed_at` and
`created_at` to the second. Tasks in the trash are not written.

Components other than VTODO are not tasks: VEVENTs (and VJOURNALs...) are counted in
`ignored`; a file with no VTODO at all is refused. VTODOs are numbered from 1 in file
order, and each problem names its VTODO, its property and its line.

Reading does not build the calendar with `icalendar.Calendar.from_ical`: that parser
stops at the first property it cannot read (one bad PRIORITY would lose every task of
the file, without saying which), and holds the whole calendar as objects. This module
unfolds and splits the content lines itself, one VTODO at a time (bounded line length
and nesting depth), and uses `icalendar` for the values (dates and times, categories)
and the time zones (TZIDs by name, Windows names, the file's own VTIMEZONEs).
"""

from __future__ import annotations

import datetime
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Final

import icalendar
from icalendar.parser import split_on_unescaped_comma, unescape_backslash
from icalendar.timezone import tzp

from webapp.tasks.schemas import PriorityLabel
from webapp.transfer.chunks import Chunker
from webapp.transfer.fields import (
    Invalid,
    clean_list_name,
    clean_notes,
    clean_source_id,
    clean_title,
)
from webapp.transfer.records import (
    UTC,
    Format,
    Identities,
    ParseOptions,
    ParseResult,
    TaskRecord,
    lists_of,
    too_many_tasks,
)
from webapp.transfer.source import Unreadable, bounded_lines, decode_text, read_limited

PRODID: Final = "-//Tasks//Tasks export//EN"
LIST_PROPERTY: Final = "X-TASKS-LIST"
CALENDAR_NAME_PROPERTY: Final = "X-WR-CALNAME"
# RFC 5545 3.8.1.9: 1 is the highest, 9 the lowest, 0 undefined; CUAs with three levels
# use 1, 5 and 9, and read 1-4 as high, 5 as medium, 6-9 as low.
EXPORT_PRIORITY: Final[dict[PriorityLabel, int]] = {"high": 1, "medium": 5, "low": 9}

# An unfolded property longer than this is refused: no valid task property is near it
# (notes hold 10,000 characters), and reading it would cost what the file costs.
ICS_LINE_LIMIT: Final = 256 * 1024
# VCALENDAR > VTODO > VALARM is three deep; a file nested much deeper is not a calendar.
MAX_DEPTH: Final = 8

# RFC 5545 3.1: name *(";" param) ":" value; a param value is text without `";:,` or a
# quoted string, several separated by commas.
_PARAM_VALUE = r'(?:"[^"]*"|[^";:,]*)'
_PARAM = rf";([A-Za-z0-9-]+)=({_PARAM_VALUE}(?:,{_PARAM_VALUE})*)"
_CONTENT_LINE = re.compile(
    rf"(?P<name>[A-Za-z0-9-]+)(?P<params>(?:;[A-Za-z0-9-]+={_PARAM_VALUE}(?:,{_PARAM_VALUE})*)*)"
    r":(?P<value>.*)",
    re.DOTALL,
)
_PARAMS = re.compile(_PARAM)
# Counted in ParseResult.ignored once per VTODO that has them (and VALARM, VEVENT... once
# per component, RECURRENCE-ID once per VTODO skipped, CATEGORIES once per VTODO whose
# categories are dropped).
IGNORED_PROPERTIES: Final = ("RRULE", "RDATE", "EXDATE", "RELATED-TO")


# --- writing ----------------------------------------------------------------------------


class IcsExportWriter:
    """An iCalendar file of VTODOs, written piece by piece: `head()` once, `todos(batch)`
    for each batch of tasks (the caller's batch size bounds the memory), `tail()`.

    `calendar_name` becomes X-WR-CALNAME: the list's name for a file per list, or a
    name for all of them, or None for none (each VTODO names its list in X-TASKS-LIST
    either way; on import, a task without one goes to the list X-WR-CALNAME names).
    `dtstamp` is the time of the export, which RFC 5545 requires on every VTODO.
    """

    def __init__(self, *, calendar_name: str | None, dtstamp: datetime.datetime) -> None:
        self._calendar_name = calendar_name
        self._dtstamp = _whole_seconds(dtstamp)

    def head(self) -> bytes:
        """BEGIN:VCALENDAR and the calendar's properties."""
        calendar = icalendar.Calendar()
        calendar.add("version", "2.0")
        calendar.add("prodid", PRODID)
        if self._calendar_name is not None:
            calendar.add(CALENDAR_NAME_PROPERTY, icalendar.vText(self._calendar_name))
        whole: bytes = calendar.to_ical()
        # An empty calendar, less its END line: the VTODOs go before it.
        return whole.removesuffix(b"END:VCALENDAR\r\n")

    def todos(self, batch: Iterable[TaskRecord]) -> bytes:
        """One VTODO per task of the batch that is not in the trash."""
        return b"".join(
            _todo(task, self._dtstamp).to_ical() for task in batch if task.deleted_at is None
        )

    def tail(self) -> bytes:
        """END:VCALENDAR."""
        return b"END:VCALENDAR\r\n"


def render_ics(
    tasks: Iterable[TaskRecord], *, calendar_name: str | None, dtstamp: datetime.datetime
) -> Iterator[bytes]:
    """An iCalendar file of the tasks (one VTODO each) as chunks of bytes (about 64 KiB
    each), read from `tasks` as it goes. For one file per list, call it once per list
    with that list's tasks and its name as `calendar_name`."""
    writer = IcsExportWriter(calendar_name=calendar_name, dtstamp=dtstamp)
    chunker = Chunker()
    chunker.add(writer.head())
    for task in tasks:
        if chunk := chunker.add(writer.todos((task,))):
            yield chunk
    chunker.add(writer.tail())
    yield chunker.flush()


def _todo(task: TaskRecord, dtstamp: datetime.datetime) -> icalendar.Todo:
    todo = icalendar.Todo()
    todo.add("uid", task.source_id)
    todo.add("dtstamp", dtstamp)
    todo.add("summary", task.title)
    if task.notes:
        todo.add("description", task.notes)
    if task.priority in EXPORT_PRIORITY:
        todo.add("priority", EXPORT_PRIORITY[task.priority])
    if task.due_date is not None:
        todo.add("due", task.due_date)
    if task.completed_at is not None:
        todo.add("status", "COMPLETED")
        todo.add("completed", _whole_seconds(task.completed_at))
        todo.add("percent-complete", 100)
    else:
        todo.add("status", "NEEDS-ACTION")
    if task.created_at is not None:
        todo.add("created", _whole_seconds(task.created_at))
    if task.list_name is not None:
        todo.add(LIST_PROPERTY, icalendar.vText(task.list_name))
    return todo


def _whole_seconds(value: datetime.datetime) -> datetime.datetime:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)


# --- reading ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Property:
    line: int
    name: str
    params: dict[str, str]
    value: str  # as written: still escaped


@dataclass(slots=True)
class _Todo:
    number: int
    line: int
    calendar_name: str | None
    properties: dict[str, _Property] = field(default_factory=dict)
    categories: list[_Property] = field(default_factory=list)


class _Reader:
    """The state of one parse: the result, the time zones of the file, identities."""

    def __init__(self, options: ParseOptions, result: ParseResult) -> None:
        self.options = options
        self.result = result
        self.identities = Identities()
        self.default_list: str | None = None
        # VTIMEZONE components by TZID, as text, built into a tzinfo only when needed.
        self.timezone_blocks: dict[str, str] = {}
        self.zones: dict[str, datetime.tzinfo | None] = {}

    def zone(self, tzid: str) -> datetime.tzinfo | None:
        """The zone a TZID names: an IANA or Windows name, or the file's VTIMEZONE."""
        if tzid not in self.zones:
            self.zones[tzid] = self._find_zone(tzid)
        return self.zones[tzid]

    def _find_zone(self, tzid: str) -> datetime.tzinfo | None:
        # icalendar warns when it guesses a "globally unique" TZID (/vendor/Europe/Berlin);
        # that guess is what this reader wants.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            known = tzp.timezone(tzid)
            if known is not None:
                return known
            block = self.timezone_blocks.get(tzid)
            if block is None:
                return None
            try:
                component = icalendar.Timezone.from_ical(block)
                if not isinstance(component, icalendar.Timezone):
                    return None
                zone: datetime.tzinfo = component.to_tz(lookup_tzid=False)
            except Exception:  # any failure means: this VTIMEZONE cannot be used
                return None
            return zone


def parse_ics(source: bytes | BinaryIO, options: ParseOptions | None = None) -> ParseResult:
    """Read an iCalendar file: its VTODOs as tasks, the lists they belong to, every
    problem with its VTODO number, property and line, and counts of what is ignored.

    Refused whole: too large, not UTF-8, binary, not iCalendar, nested too deeply, cut
    short, a property far longer than any valid one, or no VTODO at all.
    """
    options = options or ParseOptions()
    result = ParseResult(format=Format.ICALENDAR, max_problems=options.max_problems)
    reader = _Reader(options, result)
    if options.default_list is not None:
        try:
            reader.default_list = clean_list_name(options.default_list)
        except Invalid as error:
            return result.refuse(f"The list to import into: {error}")
    try:
        text = decode_text(read_limited(source, options.max_bytes))
        todos = _scan(text, reader)
    except Unreadable as error:
        return result.refuse(error.message, line=error.line)
    if todos == 0:
        events = result.ignored.get("VEVENT", 0)
        also = f" (it holds {events} event{'s' if events != 1 else ''}, which are not tasks)"
        return result.refuse(
            "The iCalendar file holds no task (VTODO)" + (also if events else "") + "."
        )
    result.lists = lists_of(result.tasks)
    return result


def _unfolded(text: str) -> Iterator[tuple[int, str]]:
    """The content lines, unfolded (RFC 5545 3.1: a line break followed by a space or a
    tab continues the line), each with the line it starts on; blank lines skipped."""
    pieces: list[str] = []
    start = size = 0
    for number, physical in enumerate(bounded_lines(text, ICS_LINE_LIMIT), 1):
        line = physical.rstrip("\r\n")
        if line[:1] in (" ", "\t") and pieces:
            pieces.append(line[1:])
            size += len(line) - 1
            if size > ICS_LINE_LIMIT:
                raise Unreadable(
                    f"The property that starts on line {start} is longer than "
                    f"{ICS_LINE_LIMIT:,} characters; no task property is that long.",
                    line=start,
                )
            continue
        if pieces:
            yield start, "".join(pieces)
        pieces, start, size = ([line], number, len(line)) if line else ([], 0, 0)
    if pieces:
        yield start, "".join(pieces)


def _split(line: str, number: int) -> _Property | None:
    match = _CONTENT_LINE.fullmatch(line)
    if match is None:
        return None
    params = {
        name.upper(): value.split(",")[0].strip('"')
        for name, value in _PARAMS.findall(match["params"])
    }
    return _Property(line=number, name=match["name"].upper(), params=params, value=match["value"])


def _scan(text: str, reader: _Reader) -> int:
    """Walk the file's components, turning each VTODO into a task (or problems); the
    number of VTODOs. Raises Unreadable for a file that is not iCalendar at all."""
    result = reader.result
    stack: list[tuple[str, int]] = []  # open components, with the line each began on
    calendar_name: str | None = None
    todo: _Todo | None = None
    timezone: tuple[str | None, list[str]] | None = None
    todos = 0
    for number, line in _unfolded(text):
        prop = _split(line, number)
        if not stack and (
            prop is None or (prop.name, prop.value.strip().upper()) != ("BEGIN", "VCALENDAR")
        ):
            raise Unreadable(
                f"This is not an iCalendar file: line {number} should be BEGIN:VCALENDAR.",
                line=number,
            )
        if prop is None:
            if todo is not None:
                result.problem(
                    "The line is not an iCalendar property (NAME:value).",
                    line=number,
                    component=todo.number,
                )
            continue
        if timezone is not None:
            timezone[1].append(line)
        if prop.name == "BEGIN":
            name = prop.value.strip().upper()
            if len(stack) >= MAX_DEPTH:
                raise Unreadable(
                    f"Components are nested more than {MAX_DEPTH} deep (line {number}); "
                    "this is not a calendar of tasks.",
                    line=number,
                )
            depth = len(stack)
            stack.append((name, number))
            if depth == 0:
                calendar_name = None
            elif depth == 1 and name == "VTODO":
                todos += 1
                if todos > reader.options.max_tasks:
                    raise Unreadable(too_many_tasks(reader.options.max_tasks), line=number)
                todo = _Todo(number=todos, line=number, calendar_name=calendar_name)
            elif depth == 1 and name == "VTIMEZONE":
                timezone = (None, [line])
            elif depth == 1 or (depth == 2 and todo is not None):
                # VEVENT, VJOURNAL, VFREEBUSY... beside the tasks; VALARM... inside one.
                result.count_ignored(name)
            continue
        if prop.name == "END":
            name = prop.value.strip().upper()
            if not stack or stack[-1][0] != name:
                expected = f"END:{stack[-1][0]}" if stack else "nothing"
                raise Unreadable(
                    f"Line {number} ends {name} where {expected} was due; the file is "
                    "not well-formed iCalendar.",
                    line=number,
                )
            stack.pop()
            if len(stack) == 1 and name == "VTODO" and todo is not None:
                _finish(todo, reader)
                todo = None
            elif len(stack) == 1 and name == "VTIMEZONE" and timezone is not None:
                tzid, lines = timezone
                if tzid:
                    reader.timezone_blocks[tzid] = "\r\n".join(lines) + "\r\n"
                timezone = None
            continue
        depth = len(stack)
        if depth == 1 and prop.name == CALENDAR_NAME_PROPERTY:
            calendar_name = unescape_backslash(prop.value)
        elif depth == 2 and timezone is not None and prop.name == "TZID":
            timezone = (prop.value.strip(), timezone[1])
        elif depth == 2 and todo is not None:
            if prop.name == "CATEGORIES":
                todo.categories.append(prop)
            else:
                # A property given twice (RFC 5545 allows most only once): the first counts.
                todo.properties.setdefault(prop.name, prop)
    if stack:
        name, begun = stack[-1]
        raise Unreadable(
            f"The file ends inside {name} (begun on line {begun}): it is cut short.",
            line=begun,
        )
    return todos


def _finish(todo: _Todo, reader: _Reader) -> None:
    """The task of a complete VTODO, or its problems."""
    result = reader.result
    props = todo.properties
    for name in IGNORED_PROPERTIES:
        if name in props:
            result.count_ignored(name)
    if "RECURRENCE-ID" in props:
        # A changed occurrence of a repeating task: the task itself is the VTODO
        # without RECURRENCE-ID, imported once.
        result.count_ignored("RECURRENCE-ID")
        return
    before = result.problem_count
    check = _Checker(todo, reader)

    summary = props.get("SUMMARY")
    title = ""
    if summary is None:
        check.problem("The task has no SUMMARY (its title).", "SUMMARY", todo.line)
    else:
        title = check.text(summary, clean_title) or ""
    notes = ""
    if (description := props.get("DESCRIPTION")) is not None:
        notes = check.text(description, clean_notes) or ""
    priority = check.priority(props.get("PRIORITY"))
    due_date = check.due(props.get("DUE"))
    completed_at = check.completion()
    created_at = check.instant(props.get("CREATED"))
    list_name = check.list_name()

    uid = props.get("UID")
    if uid is None:
        source_id = reader.identities.derived(
            list_name,
            summary.value if summary else None,
            description.value if description else None,
            props["DUE"].value if "DUE" in props else None,
        )
    else:
        source_id = check.text(uid, clean_source_id) or ""
        if source_id:
            where = f"VTODO {todo.number}"
            if (first := reader.identities.first_seen(source_id, where)) is not None:
                check.problem(f"Another task ({first}) has the same UID.", "UID", uid.line)
    if result.problem_count > before:
        return
    result.tasks.append(
        TaskRecord(
            source_id=source_id,
            title=title,
            notes=notes,
            priority=priority,
            due_date=due_date,
            completed_at=completed_at,
            created_at=created_at,
            list_name=list_name,
        )
    )


class _Checker:
    """Reads the properties of one VTODO into values; each bad one is a problem naming
    the VTODO, the property and its line."""

    def __init__(self, todo: _Todo, reader: _Reader) -> None:
        self.todo = todo
        self.reader = reader

    def problem(self, message: str, name: str, line: int) -> None:
        self.reader.result.problem(message, line=line, component=self.todo.number, property=name)

    def text(self, prop: _Property, clean: Callable[[str], str]) -> str | None:
        try:
            return clean(unescape_backslash(prop.value))
        except Invalid as error:
            self.problem(str(error), prop.name, prop.line)
            return None

    def integer(self, prop: _Property, low: int, high: int) -> int | None:
        try:
            value = int(prop.value.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            self.problem(
                f"{prop.name} {prop.value!r} is not a whole number from {low} to {high}.",
                prop.name,
                prop.line,
            )
            return None
        return value

    def priority(self, prop: _Property | None) -> PriorityLabel:
        value = self.integer(prop, 0, 9) if prop is not None else 0
        if not value:
            return "none"
        return "high" if value <= 4 else "medium" if value == 5 else "low"

    def _value(self, prop: _Property) -> datetime.date | datetime.datetime | None:
        try:
            value = icalendar.vDDDTypes.from_ical(  # type: ignore[no-untyped-call]
                prop.value.strip()
            )
        except (ValueError, TypeError):
            value = None
        if not isinstance(value, datetime.date):  # a time or a duration is no date
            self.problem(
                f"{prop.name} {prop.value!r} is not an iCalendar date or date-time.",
                prop.name,
                prop.line,
            )
            return None
        return value

    def due(self, prop: _Property | None) -> datetime.date | None:
        """The date the task is due where its DUE says: a DATE as is; a DATE-TIME with
        a TZID, or floating, by its own date; a UTC one in the user's zone."""
        if prop is None:
            return None
        value = self._value(prop)
        if not isinstance(value, datetime.datetime):
            return value
        if value.tzinfo is not None:
            value = value.astimezone(self.reader.options.timezone)
        return value.date()

    def instant(self, prop: _Property | None) -> datetime.datetime | None:
        """A UTC instant: UTC as is; with a TZID in that zone; floating, or a DATE at
        its midnight, in the user's zone."""
        if prop is None:
            return None
        value = self._value(prop)
        if value is None:
            return None
        if not isinstance(value, datetime.datetime):
            value = datetime.datetime.combine(value, datetime.time())
        if value.tzinfo is None:
            zone = self.reader.options.timezone
            if tzid := prop.params.get("TZID"):
                found = self.reader.zone(tzid)
                if found is None:
                    self.problem(f"The time zone {tzid!r} is not known.", prop.name, prop.line)
                    return None
                zone = found
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)

    def completion(self) -> datetime.datetime | None:
        """When the task was completed, or None if it is not."""
        props = self.todo.properties
        status_prop = props.get("STATUS")
        status = status_prop.value.strip().upper() if status_prop else ""
        percent = props.get("PERCENT-COMPLETE")
        percent_value = self.integer(percent, 0, 100) if percent is not None else None
        if status in ("NEEDS-ACTION", "IN-PROCESS"):
            return None
        if status == "CANCELLED":
            self.reader.result.warn(
                "The task was cancelled; Tasks has no such state, so it is imported as completed.",
                line=status_prop.line if status_prop else None,
                component=self.todo.number,
                property="STATUS",
            )
        elif status != "COMPLETED" and "COMPLETED" not in props and percent_value != 100:
            return None
        for name in ("COMPLETED", "LAST-MODIFIED", "DTSTAMP"):
            if name in props:
                return self.instant(props[name])
        self.problem(
            "The task is completed but says not when (no COMPLETED, LAST-MODIFIED or DTSTAMP).",
            "STATUS",
            status_prop.line if status_prop else self.todo.line,
        )
        return None

    def list_name(self) -> str | None:
        """X-TASKS-LIST, else the calendar's X-WR-CALNAME, else the first category,
        else the default list."""
        props = self.todo.properties
        if (own := props.get(LIST_PROPERTY)) is not None:
            self._ignore_categories()
            return self.text(own, clean_list_name)
        if self.todo.calendar_name is not None:
            self._ignore_categories()
            try:
                return clean_list_name(self.todo.calendar_name)
            except Invalid as error:
                self.problem(str(error), CALENDAR_NAME_PROPERTY, self.todo.line)
                return None
        names = [
            name.strip()
            for prop in self.todo.categories
            for name in split_on_unescaped_comma(prop.value)
            if name.strip()
        ]
        if names:
            if len(names) > 1:
                # The first category names the list; the others are tags Tasks lacks.
                self.reader.result.count_ignored("CATEGORIES")
            try:
                return clean_list_name(names[0])
            except Invalid as error:
                first = self.todo.categories[0]
                self.problem(str(error), "CATEGORIES", first.line)
                return None
        return self.reader.default_list

    def _ignore_categories(self) -> None:
        if self.todo.categories:
            self.reader.result.count_ignored("CATEGORIES")
