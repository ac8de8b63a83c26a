"""Our JSON export: the whole account, lossless, read back by the import.

The document (version 1)::

    {"format": "tasks-export", "version": 1,
     "exported_at": "2026-11-26T09:30:00Z", "includes_trash": false,
     "lists": [
       {"id": "…", "name": "Home", "created_at": "2026-01-02T08:00:00Z"}],
     "tasks": [
       {"id": "…", "list_id": "…", "title": "Buy milk", "notes": "",
        "priority": "none", "due_date": "2026-12-24",
        "completed_at": null, "created_at": "2026-11-26T09:30:00.123456Z",
        "deleted_at": null}]}

| field | task record | notes |
|---|---|---|
| `lists[].id`, `.name`, `.created_at` | `ListRecord.source_id`, `.name`, `.created_at` | sharing roles are not exported |
| `tasks[].id` | `source_id` | the task's id: importing the file again makes nothing twice |
| `tasks[].list_id` | `list_source_id`, and `list_name` from `lists` | null: no list |
| `title`, `notes`, `priority` | same | priority: none, low, medium, high |
| `due_date` | `due_date` | YYYY-MM-DD or null |
| `completed_at`, `created_at`, `deleted_at` | same | RFC 3339 with an offset (written in UTC, to the microsecond) or null; `deleted_at` set = in the trash, written only with `include_trash` |

Reading: a document whose `format` is not "tasks-export" is refused, and so is a
`version` above 1 (a newer Tasks wrote it). Unknown fields are ignored, so that a later
version 1 may add one. Each task is decoded on its own and every bad field is reported
with its JSON path (`tasks[12].title`); JSON nested too deeply (msgspec raises
RecursionError) refuses the file.

Writing streams: the envelope first, then one list or task per line, with no more than a
chunk in memory, whatever the number of tasks (see `JsonExportWriter`).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, BinaryIO, Final

import msgspec

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
    ListRecord,
    ParseOptions,
    ParseResult,
    TaskRecord,
    too_many_tasks,
)
from webapp.transfer.source import Unreadable, decode_text, read_limited

FORMAT_NAME: Final = "tasks-export"
FORMAT_VERSION: Final = 1

# An instant must say which one: a time without an offset is refused, not guessed.
Instant = Annotated[datetime.datetime, msgspec.Meta(tz=True)]


class _ListDoc(msgspec.Struct, kw_only=True):
    id: str
    name: str
    created_at: Instant | None = None


class _TaskDoc(msgspec.Struct, kw_only=True):
    # Only `title` is required on reading: the rest has the defaults a new task has
    # (an export always writes every field).
    title: str
    id: str | None = None
    list_id: str | None = None
    notes: str = ""
    priority: PriorityLabel = "none"
    due_date: datetime.date | None = None
    completed_at: Instant | None = None
    created_at: Instant | None = None
    deleted_at: Instant | None = None


_encoder = msgspec.json.Encoder()


# --- writing ----------------------------------------------------------------------------


class JsonExportWriter:
    """Our JSON document, written piece by piece: for a caller that gets records in
    batches (e.g. an async job reading the database a page at a time)::

        writer = JsonExportWriter(exported_at=now, include_trash=False)
        yield writer.head()
        for batch in list_batches: yield writer.lists(batch)
        for batch in task_batches: yield writer.tasks(batch)
        yield writer.tail()

    Lists come before tasks, and each method returns the bytes of what it was given (its
    batch's worth: the caller decides the batch size, and so the memory). Tasks in the
    trash are written only with `include_trash`.
    """

    def __init__(self, *, exported_at: datetime.datetime, include_trash: bool = False) -> None:
        self._exported_at = _in_utc(exported_at)
        self._include_trash = include_trash
        self._state = "new"
        self._first = True

    def head(self) -> bytes:
        """The envelope up to the opening of the `lists` array."""
        self._expect("new", "head")
        self._state = "lists"
        envelope = _encoder.encode(
            {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "exported_at": self._exported_at,
                "includes_trash": self._include_trash,
            }
        )
        # The encoded envelope ends with "}"; the arrays go in before it.
        return envelope[:-1] + b',"lists":['

    def lists(self, batch: Iterable[ListRecord]) -> bytes:
        """Some lists (all of them before any task)."""
        self._expect("lists", "lists")
        return b"".join(self._item(_list_doc(record)) for record in batch)

    def tasks(self, batch: Iterable[TaskRecord]) -> bytes:
        """Some tasks; the first call closes the `lists` array."""
        opening = b""
        if self._state == "lists":
            opening = b'\n],"tasks":['
            self._state = "tasks"
            self._first = True
        self._expect("tasks", "tasks")
        return opening + b"".join(
            self._item(_task_doc(record))
            for record in batch
            if self._include_trash or record.deleted_at is None
        )

    def tail(self) -> bytes:
        """The end of the document."""
        opening = self.tasks(()) if self._state == "lists" else b""
        self._expect("tasks", "tail")
        self._state = "done"
        return opening + b"\n]}\n"

    def _item(self, doc: msgspec.Struct) -> bytes:
        separator = b"\n" if self._first else b",\n"
        self._first = False
        return separator + _encoder.encode(doc)

    def _expect(self, state: str, method: str) -> None:
        if self._state != state:
            raise RuntimeError(f"JsonExportWriter.{method}() called in state {self._state!r}")


def render_json(
    lists: Iterable[ListRecord],
    tasks: Iterable[TaskRecord],
    *,
    exported_at: datetime.datetime,
    include_trash: bool = False,
) -> Iterator[bytes]:
    """Our JSON export as chunks of bytes (about 64 KiB each), read from the iterables
    as it goes: memory stays flat for any number of tasks if they are generated lazily.
    Tasks in the trash (deleted_at set) are written only with `include_trash`."""
    writer = JsonExportWriter(exported_at=exported_at, include_trash=include_trash)
    chunker = Chunker()
    if chunk := chunker.add(writer.head()):
        yield chunk
    for record in lists:
        if chunk := chunker.add(writer.lists((record,))):
            yield chunk
    for task in tasks:
        if chunk := chunker.add(writer.tasks((task,))):
            yield chunk
    chunker.add(writer.tail())
    yield chunker.flush()


def _list_doc(record: ListRecord) -> _ListDoc:
    # Tasks name their list by id: a list without one could not be found again.
    if not record.source_id:
        raise ValueError(f"the JSON export needs the id of every list ({record.name!r} has none)")
    return _ListDoc(id=record.source_id, name=record.name, created_at=_utc(record.created_at))


def _task_doc(record: TaskRecord) -> _TaskDoc:
    return _TaskDoc(
        id=record.source_id,
        list_id=record.list_source_id,
        title=record.title,
        notes=record.notes,
        priority=record.priority,
        due_date=record.due_date,
        completed_at=_utc(record.completed_at),
        created_at=_utc(record.created_at),
        deleted_at=_utc(record.deleted_at),
    )


def _utc(value: datetime.datetime | None) -> datetime.datetime | None:
    return None if value is None else _in_utc(value)


def _in_utc(value: datetime.datetime) -> datetime.datetime:
    # A naive time is taken as UTC, which is what the app stores.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


# --- reading ----------------------------------------------------------------------------

# Each field of a list or task and the type it must decode to, for the slow path that
# finds every bad field of a record (msgspec stops at the first).
_LIST_FIELDS: Final[dict[str, tuple[Any, bool]]] = {
    "id": (str, True),
    "name": (str, True),
    "created_at": (Instant | None, False),
}
_TASK_FIELDS: Final[dict[str, tuple[Any, bool]]] = {
    "title": (str, True),
    "id": (str | None, False),
    "list_id": (str | None, False),
    "notes": (str, False),
    "priority": (PriorityLabel, False),
    "due_date": (datetime.date | None, False),
    "completed_at": (Instant | None, False),
    "created_at": (Instant | None, False),
    "deleted_at": (Instant | None, False),
}
# A JSON string (stepped over whole) or a structural character: enough to count items.
_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{},]')
_BYTE_OFFSET = re.compile(r"\(byte (\d+)\)")
# msgspec ends a validation message with " - at `$.path`"; the path is given separately.
_AT_PATH = re.compile(r" - at `\$[^`]*`$")


def parse_json(source: bytes | BinaryIO, options: ParseOptions | None = None) -> ParseResult:
    """Read our JSON export: its lists and tasks, and every problem with its JSON path.

    Refused whole (a fatal problem, no records): too large, not UTF-8, not JSON, nested
    too deeply, not a Tasks export, or a version this Tasks does not know.
    """
    options = options or ParseOptions()
    result = ParseResult(format=Format.TASKS_JSON, max_problems=options.max_problems)
    try:
        text = decode_text(read_limited(source, options.max_bytes))
    except Unreadable as error:
        return result.refuse(error.message, line=error.line)
    try:
        top = msgspec.json.decode(text, type=dict[str, msgspec.Raw])
    except RecursionError:
        return result.refuse("The JSON is nested too deeply to be a Tasks export.")
    except msgspec.ValidationError:
        return result.refuse(_not_ours("it is not a JSON object"))
    except msgspec.DecodeError as error:
        return result.refuse(f"The file is not valid JSON: {_located(str(error), text)}.")

    fmt = _decode_or_none(top.get("format"), str)
    if fmt != FORMAT_NAME:
        return result.refuse(_not_ours(f'its "format" is not "{FORMAT_NAME}"'), path="format")
    version = _decode_or_none(top.get("version"), int)
    if version is None or version < 1:
        return result.refuse('The "version" of the export is not a number from 1.', path="version")
    if version > FORMAT_VERSION:
        return result.refuse(
            f"The export is of version {version}, made by a newer Tasks; this one reads "
            f"version {FORMAT_VERSION}. Update Tasks, then import it.",
            path="version",
        )
    for name in ("lists", "tasks"):
        raw = top.get(name)
        if raw is not None and _more_items(raw, options.max_tasks):
            return result.refuse(too_many_tasks(options.max_tasks), path=name)
    raw_lists = _decode_or_none(top.get("lists"), list[msgspec.Raw])
    if raw_lists is None:
        return result.refuse('"lists" must be an array.', path="lists")
    raw_tasks = _decode_or_none(top.get("tasks"), list[msgspec.Raw])
    if raw_tasks is None:
        return result.refuse('"tasks" must be an array.', path="tasks")

    list_names = _read_lists(raw_lists, result)
    _read_tasks(raw_tasks, list_names, result)
    return result


def _more_items(raw: msgspec.Raw, limit: int) -> bool:
    """Whether the JSON array `raw` holds more than `limit` items, counted without
    decoding them: decoding 7 million `{}` of a hostile 20 MiB file, even as msgspec.Raw,
    takes 400 MiB. The scan steps over strings with one regular expression and stops as
    soon as the count is past the limit."""
    if len(raw) <= 2 * limit:  # every item takes at least two bytes ("0,")
        return False
    depth = commas = 0
    seen = False
    for match in _TOKENS.finditer(memoryview(raw)):
        token = match.group()
        if token == b",":
            if depth == 1:
                commas += 1
                if commas >= limit:
                    return True
        elif token in (b"[", b"{"):
            seen = seen or depth == 1
            depth += 1
        elif token in (b"]", b"}"):
            depth -= 1
        elif depth == 1:
            seen = True
    return seen and commas + 1 > limit


def _not_ours(why: str) -> str:
    return (
        f"This JSON is not a Tasks export ({why}). Import a file made by Tasks' JSON "
        "export, or a CSV or iCalendar file."
    )


def _located(message: str, text: str) -> str:
    """msgspec's message with the byte offset turned into a line number."""
    match = _BYTE_OFFSET.search(message)
    if match is None:
        return message.removeprefix("JSON is malformed: ")
    line = text.encode("utf-8", "surrogatepass")[: int(match.group(1))].count(b"\n") + 1
    return _BYTE_OFFSET.sub(f"(line {line})", message).removeprefix("JSON is malformed: ")


def _decode_or_none(raw: msgspec.Raw | None, kind: Any) -> Any:
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


def _decode_fields(
    raw: msgspec.Raw, fields: dict[str, tuple[Any, bool]], path: str, result: ParseResult
) -> tuple[dict[str, Any], set[str]] | None:
    """Each known field of one object decoded on its own, every bad or missing one a
    problem: the values that could be read, and the names of those that could not
    (their own rules are then not checked: one problem per field). None if the item is
    not an object at all."""
    try:
        members = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        result.problem("Must be a JSON object.", path=path)
        return None
    values: dict[str, Any] = {}
    bad: set[str] = set()
    for name, (kind, required) in fields.items():
        member = members.get(name)
        if member is None:
            if required:
                result.problem("Is missing.", path=f"{path}.{name}")
                bad.add(name)
            continue
        try:
            values[name] = msgspec.json.decode(member, type=kind)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as error:
            message = _AT_PATH.sub("", str(error)) or "Cannot be read"
            result.problem(message.rstrip(".") + ".", path=f"{path}.{name}")
            bad.add(name)
    return values, bad


def _read_lists(raw_lists: list[msgspec.Raw], result: ParseResult) -> dict[str, str | None]:
    """The lists, into `result`; returns each list id's name (None: the list is invalid,
    so that its tasks are told why they are left out)."""
    names: dict[str, str | None] = {}
    for index, raw in enumerate(raw_lists):
        path = f"lists[{index}]"
        bad: set[str] = set()
        try:
            doc = msgspec.json.decode(raw, type=_ListDoc)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            decoded = _decode_fields(raw, _LIST_FIELDS, path, result)
            if decoded is None:
                continue
            values, bad = decoded
            doc = _ListDoc(**{"id": "", "name": "", **values})
        if "id" in bad:
            continue
        try:
            list_id = clean_source_id(doc.id)
        except Invalid as error:
            result.problem(str(error), path=f"{path}.id")
            continue
        if list_id in names:
            result.problem("Another list has the same id.", path=f"{path}.id")
            continue
        names[list_id] = None
        if bad:
            continue
        try:
            name = clean_list_name(doc.name)
        except Invalid as error:
            result.problem(str(error), path=f"{path}.name")
            continue
        names[list_id] = name
        result.lists.append(
            ListRecord(name=name, source_id=list_id, created_at=_utc(doc.created_at))
        )
    return names


def _read_tasks(
    raw_tasks: list[msgspec.Raw], list_names: dict[str, str | None], result: ParseResult
) -> None:
    identities = Identities()
    for index, raw in enumerate(raw_tasks):
        path = f"tasks[{index}]"
        bad: set[str] = set()
        try:
            doc = msgspec.json.decode(raw, type=_TaskDoc)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            decoded = _decode_fields(raw, _TASK_FIELDS, path, result)
            if decoded is None:
                continue
            values, bad = decoded
            # The fields that could not be read take their defaults; the task is left
            # out anyway, but the others are still checked, so every problem is found.
            doc = _TaskDoc(**{"title": "", **values})
        record = _task_record(doc, path, list_names, identities, result, bad)
        if record is not None and not bad:
            result.tasks.append(record)


def _task_record(
    doc: _TaskDoc,
    path: str,
    list_names: dict[str, str | None],
    identities: Identities,
    result: ParseResult,
    bad: set[str],
) -> TaskRecord | None:
    """The task, or None with a problem for each field that breaks the app's rules
    (the fields in `bad` were reported already)."""
    problems = result.problem_count

    def check(name: str, clean: Callable[[str], str], value: str) -> str:
        if name in bad:
            return value
        try:
            return clean(value)
        except Invalid as error:
            result.problem(str(error), path=f"{path}.{name}")
            return value

    title = check("title", clean_title, doc.title)
    notes = check("notes", clean_notes, doc.notes)
    list_name: str | None = None
    if doc.list_id is not None and "list_id" not in bad:
        if doc.list_id not in list_names:
            result.problem("Names no list of `lists`.", path=f"{path}.list_id")
        elif (list_name := list_names[doc.list_id]) is None:
            result.problem("Names a list that is itself invalid.", path=f"{path}.list_id")
    if doc.id is None:
        source_id = identities.derived(doc.list_id, doc.title, doc.notes, str(doc.due_date))
    else:
        before = result.problem_count
        source_id = check("id", clean_source_id, doc.id)
        first = None
        if "id" not in bad and result.problem_count == before:
            first = identities.first_seen(source_id, path)
        if first is not None:
            result.problem(f"Another task ({first}) has the same id.", path=f"{path}.id")
    if result.problem_count > problems:
        return None
    return TaskRecord(
        source_id=source_id,
        title=title,
        notes=notes,
        priority=doc.priority,
        due_date=doc.due_date,
        completed_at=_utc(doc.completed_at),
        created_at=_utc(doc.created_at),
        deleted_at=_utc(doc.deleted_at),
        list_name=list_name,
        list_source_id=doc.list_id,
    )
