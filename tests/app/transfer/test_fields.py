"""The import's field rules give the app's answers: what the service refuses, an import
refuses, and what it stores, an import stores."""

from __future__ import annotations

import datetime

import pytest

from webapp.errors import InvalidInput
from webapp.tasks import validation
from webapp.transfer import fields
from webapp.transfer.fields import Invalid
from webapp.transfer.records import UTC

TITLES = [
    "Buy milk",
    "  padded  ",
    "",
    "   ",
    "\u200b\u200d\ufeff",  # only invisible characters
    "\u200bvisible",
    "x" * 200,
    " " + "x" * 200 + " ",
    "x" * 201,
    "tab\tinside",
    "line\nbreak",
    "nul\x00",
    "del\x7f",
    "c1\x85",
    "lone \ud800 surrogate",
    "ünïcödé 🎉",
    "\u3000ideographic space\u3000",
]
NOTES = [
    "",
    "plain",
    "line\nbreak\r\nand\ttab",
    "n" * 10_000,
    "n" * 10_001,
    "nul\x00",
    "bell\x07",
    "\x0bvertical tab",
    "lone \udfff surrogate",
]


@pytest.mark.parametrize("title", TITLES)
def test_a_title_is_cleaned_as_the_service_cleans_it(title: str) -> None:
    try:
        expected: str | None = validation.clean_title(title)
    except InvalidInput:
        expected = None
    try:
        got: str | None = fields.clean_title(title)
    except Invalid:
        got = None
    assert got == expected


@pytest.mark.parametrize("notes", NOTES)
def test_notes_are_checked_as_the_service_checks_them(notes: str) -> None:
    try:
        expected: str | None = validation.clean_notes(notes)
    except InvalidInput:
        expected = None
    try:
        got: str | None = fields.clean_notes(notes)
    except Invalid:
        got = None
    assert got == expected


def test_messages_say_what_is_wrong() -> None:
    with pytest.raises(Invalid, match="at most 200"):
        fields.clean_title("x" * 201)
    with pytest.raises(Invalid, match="empty"):
        fields.clean_title("\u200b")
    with pytest.raises(Invalid, match="U\\+0000"):
        fields.clean_title("a\x00")
    with pytest.raises(Invalid, match="10,000"):
        fields.clean_notes("n" * 10_001)
    with pytest.raises(Invalid, match="list name"):
        fields.clean_list_name(" ")


@pytest.mark.parametrize(
    ("text", "label"),
    [("", "none"), ("none", "none"), ("Low", "low"), (" MEDIUM ", "medium"), ("high", "high")],
)
def test_priorities(text: str, label: str) -> None:
    assert fields.parse_priority(text) == label


@pytest.mark.parametrize("text", ["urgent", "1", "p1", "highest"])
def test_unknown_priorities_are_refused(text: str) -> None:
    with pytest.raises(Invalid, match="none, low, medium, high"):
        fields.parse_priority(text)


def test_dates_are_iso_and_real() -> None:
    assert fields.parse_iso_date(" 2026-12-24 ") == datetime.date(2026, 12, 24)
    for text in ("20261224", "2026-W52-4", "24/12/2026", "2026-12-24T00:00", "2026-02-30"):
        with pytest.raises(Invalid):
            fields.parse_iso_date(text)


def test_instants_with_an_offset_are_that_instant_and_without_one_in_the_users_zone() -> None:
    berlin = datetime.timezone(datetime.timedelta(hours=1))
    expected = datetime.datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
    assert fields.parse_iso_instant("2026-11-26T08:30:00Z", berlin) == expected
    assert fields.parse_iso_instant("2026-11-26T09:30:00+01:00", UTC) == expected
    # What a spreadsheet makes of "2026-11-26T08:30:00Z" once it has shown it as a date.
    assert fields.parse_iso_instant("2026-11-26 09:30:00", berlin) == expected
    assert fields.parse_iso_instant("2026-11-26 09:30", berlin) == expected
    for text in ("2026-11-26", "yesterday", "26.11.2026 09:30", "2026-11-26T25:00"):
        with pytest.raises(Invalid):
            fields.parse_iso_instant(text, UTC)


def test_an_instant_is_written_in_utc_to_the_microsecond() -> None:
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2026, 11, 26, 12, 30, 0, 5, tzinfo=plus_two)
    assert fields.iso_instant(moment) == "2026-11-26T10:30:00.000005Z"
    assert fields.iso_instant(moment.replace(microsecond=0)) == "2026-11-26T10:30:00Z"
    # The app stores UTC: a naive value is taken as such.
    assert fields.iso_instant(datetime.datetime(2026, 11, 26, 10, 30)) == "2026-11-26T10:30:00Z"
