"""What text people write may hold, for every domain: titles are one visible line,
notes may break lines but hold no other control character.

Refused, because they are never meant and often mean harm: control characters (NUL and
the like, written raw into HTML and logs), lone surrogates (not text at all, and no
database stores them), and a title made only of invisible characters (zero-width spaces,
joiners, BOMs: a task nobody can see the name of). The same rules are stated as regular
expressions for the JSON schemas (`TITLE_PATTERN`, `NOTES_PATTERN`), so that the API's
document says what it accepts; the functions below are what the services apply.
"""

from __future__ import annotations

import sys
import unicodedata

from webapp.errors import InvalidInput


def _class_member(codepoint: int) -> str:
    # \uXXXX reads the same in Python's and in JSON Schema's (ECMA-262) expressions; past
    # the BMP they differ (\U0001xxxx, \u{1xxxx}), so those are written as themselves.
    return f"\\u{codepoint:04x}" if codepoint <= 0xFFFF else chr(codepoint)


def _ranges(codepoints: list[int]) -> str:
    """A regular expression character class body for these code points."""
    parts: list[str] = []
    start: int | None = None
    previous: int | None = None
    for codepoint in [*codepoints, -1]:
        if start is not None and codepoint != (previous or 0) + 1:
            assert previous is not None
            first, last = _class_member(start), _class_member(previous)
            parts.append(first if start == previous else f"{first}-{last}")
            start = None
        if start is None and codepoint >= 0:
            start = codepoint
        previous = codepoint
    return "".join(parts)


# Unicode's "format" characters (category Cf): they change how text is shown, and show
# nothing themselves.
_INVISIBLE = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
# Lone surrogates are refused too (`control_character`), but not in the expressions: no
# JSON body can carry one (msgspec refuses it), and regex engines other than Python's
# refuse a surrogate range.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_NOTE_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # tab, LF, CR allowed

# At least one visible character, and no control character.
TITLE_PATTERN = rf"^[^{_CONTROL}]*[^\s{_CONTROL}{_ranges(_INVISIBLE)}][^{_CONTROL}]*$"
NOTES_PATTERN = rf"^[^{_NOTE_CONTROL}]*$"

_NOTE_WHITESPACE = {"\t", "\n", "\r"}


def _refused(character: str, allowed: set[str]) -> bool:
    if character in allowed:
        return False
    return unicodedata.category(character) in {"Cc", "Cs"}


def control_character(text: str, *, allow_line_breaks: bool = False) -> str | None:
    """The first character `text` must not hold (as U+XXXX), or None."""
    allowed = _NOTE_WHITESPACE if allow_line_breaks else set()
    for character in text:
        if _refused(character, allowed):
            return f"U+{ord(character):04X}"
    return None


def is_visible(text: str) -> bool:
    """Whether `text` shows anything: a character that is neither white space nor an
    invisible format character."""
    return any(
        not character.isspace() and unicodedata.category(character) != "Cf" for character in text
    )


def one_line(text: str, field: str, max_length: int) -> str:
    """`text` as stored where one visible line is wanted (a task's title, a list's
    name): trimmed, 1 to `max_length` characters, something visible, no control
    character; else InvalidInput naming `field`."""
    cleaned = text.strip()
    if not is_visible(cleaned):
        raise InvalidInput({field: "must not be empty"})
    if len(cleaned) > max_length:
        raise InvalidInput({field: f"must be at most {max_length} characters (got {len(cleaned)})"})
    if refused := control_character(cleaned):
        raise InvalidInput({field: f"must not hold control characters (found {refused})"})
    return cleaned
