"""The rules an imported field must meet, the same as the app's, and the parsing of the
values every format shares (priorities, ISO dates and times).

The rules are those of `webapp.tasks.validation.clean_title` and `clean_notes`, written
again here on the same primitives (`webapp.text`, the lengths in `webapp.tasks.models`)
so that this layer needs no service; tests/app/transfer/test_fields.py holds the two to
the same answers. Each check returns the cleaned value or a message, never raises: a
parser reports every bad field of a file, not the first.
"""

from __future__ import annotations

import datetime
import re
from typing import Final, get_args

from webapp.tasks.models import NOTES_MAX_LENGTH, TITLE_MAX_LENGTH
from webapp.tasks.schemas import PriorityLabel
from webapp.text import control_character, is_visible
from webapp.transfer.records import UTC

PRIORITIES: Final[frozenset[str]] = frozenset(get_args(PriorityLabel))
NO_PRIORITY: Final[PriorityLabel] = "none"
# A list's name follows a title's rules: one visible line of at most 200 characters.
LIST_NAME_MAX_LENGTH: Final = TITLE_MAX_LENGTH
# What a source identity (a task id, a UID) may be: any text a database key can hold.
SOURCE_ID_MAX_LENGTH: Final = 255

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Invalid(ValueError):
    """A field's value breaks a rule; `str(error)` is the message for the user."""


def clean_title(title: str) -> str:
    """The title trimmed, or Invalid: 1 to 200 characters, something visible, no control
    character (as `webapp.tasks.validation.clean_title`)."""
    return _one_line(title, "title", TITLE_MAX_LENGTH)


def clean_list_name(name: str) -> str:
    """A list's name trimmed, or Invalid: the rules of a title."""
    return _one_line(name, "list name", LIST_NAME_MAX_LENGTH)


def _one_line(text: str, what: str, max_length: int) -> str:
    cleaned = text.strip()
    if not is_visible(cleaned):
        raise Invalid(f"The {what} is empty.")
    if len(cleaned) > max_length:
        raise Invalid(
            f"The {what} is {len(cleaned):,} characters long; at most {max_length} are allowed."
        )
    if refused := control_character(cleaned):
        raise Invalid(f"The {what} holds a control character ({refused}).")
    return cleaned


def clean_notes(notes: str) -> str:
    """The notes as given, or Invalid: up to 10,000 characters, line breaks and tabs but
    no other control character (as `webapp.tasks.validation.clean_notes`)."""
    if len(notes) > NOTES_MAX_LENGTH:
        raise Invalid(
            f"The notes are {len(notes):,} characters long; at most {NOTES_MAX_LENGTH:,} "
            "are allowed."
        )
    if refused := control_character(notes, allow_line_breaks=True):
        raise Invalid(f"The notes hold a control character ({refused}).")
    return notes


def clean_source_id(value: str) -> str:
    """An id as the file gives it (trimmed), or Invalid: at most 255 characters, no
    control character."""
    cleaned = value.strip()
    if not cleaned:
        raise Invalid("The id is empty.")
    if len(cleaned) > SOURCE_ID_MAX_LENGTH:
        raise Invalid(f"The id is longer than {SOURCE_ID_MAX_LENGTH} characters.")
    if refused := control_character(cleaned):
        raise Invalid(f"The id holds a control character ({refused}).")
    return cleaned


def parse_priority(value: str) -> PriorityLabel:
    """none, low, medium or high (any case; empty is none), or Invalid."""
    label = value.strip().lower() or "none"
    if label not in PRIORITIES:
        raise Invalid(f"The priority {value!r} is not one of none, low, medium, high.")
    return label  # type: ignore[return-value]


def parse_iso_date(value: str) -> datetime.date:
    """A calendar date written YYYY-MM-DD, or Invalid."""
    text = value.strip()
    # date.fromisoformat also takes 20261224 and 2026-W52-4; a due date in a file is
    # written one way, and the others are more often a mistake than a wish.
    if not _ISO_DATE.fullmatch(text):
        raise Invalid(f"The date {value!r} is not written YYYY-MM-DD.")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"The date {value!r} does not exist.") from None


def parse_iso_instant(value: str, zone: datetime.tzinfo) -> datetime.datetime:
    """An ISO 8601 date and time as an aware UTC datetime, or Invalid.

    With an offset or Z it is that instant; without one (a spreadsheet rewrites
    "2026-11-26T09:30:00Z" as "2026-11-26 09:30:00") it is read in `zone`.
    """
    text = value.strip()
    if not _ISO_DATE.match(text) or len(text) < len("2026-01-01T00:00"):
        raise Invalid(f"The time {value!r} is not an ISO 8601 date and time.")
    try:
        instant = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"The time {value!r} is not an ISO 8601 date and time.") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=zone)
    return instant.astimezone(UTC)


def iso_instant(value: datetime.datetime) -> str:
    """How every format but iCalendar writes an instant: ISO 8601 in UTC with a Z, to the
    microsecond (so that a round trip gives the same value back). A naive value is taken
    as UTC, which is what the app stores."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
