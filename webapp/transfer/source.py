"""An uploaded file as text: at most so many bytes, UTF-8, not binary.

Every parser starts here, so that each hostile file gets the same clear refusal whatever
format it claims to be: too large (read no further than the limit), empty, binary (a NUL
byte, or UTF-16 that spreadsheets call "Unicode text"), or not UTF-8 (the message names
the line of the first bad byte, which is where to look in an editor). A UTF-8 BOM, as
spreadsheets write it, is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final

from webapp.transfer.records import MiB

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")
# A NUL byte this early means a binary file (an image, a spreadsheet's .xlsx, a zip):
# no text format here allows one anywhere.
_BINARY_SNIFF_BYTES: Final = 8192


class Unreadable(Exception):
    """The file cannot be read; `message` says why, for the user, and `line` where (if
    one line is to blame)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def read_limited(source: bytes | BinaryIO, max_bytes: int) -> bytes:
    """The file's bytes, refused (Unreadable) if it holds more than `max_bytes`.

    A file object is read no further than one byte past the limit, so that a huge upload
    costs no more memory than an allowed one.
    """
    data = source if isinstance(source, bytes) else source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Unreadable(f"The file is larger than {_size(max_bytes)}, the most an import takes.")
    return data


def decode_text(data: bytes) -> str:
    """The file as text: UTF-8 (a BOM is fine), refused (Unreadable) if binary or not UTF-8."""
    if not data.strip():
        raise Unreadable("The file is empty.")
    if data.startswith(_UTF16_BOMS):
        raise Unreadable("The file is UTF-16 text; save it as UTF-8 and import it again.")
    if b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        raise Unreadable("The file is binary, not text (CSV, JSON or iCalendar).")
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise Unreadable(
            f"The file is not UTF-8 text (byte 0x{data[error.start]:02X} on line {line}); "
            "save it as UTF-8 and import it again."
        ) from None


def _size(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n:,} bytes"


def bounded_lines(text: str, limit: int) -> Iterator[str]:
    """The lines of `text`, each with its line break, refusing (Unreadable) a line over
    `limit` characters without looking further than that for its end: a 10 MiB line
    costs no more than a long valid one before it is refused."""
    start, length, number = 0, len(text), 0
    while start < length:
        number += 1
        end = text.find("\n", start, start + limit + 1)
        if end < 0:
            if length - start > limit:
                raise Unreadable(
                    f"Line {number} is longer than {limit:,} characters; no line of a file "
                    "of tasks is that long.",
                    line=number,
                )
            end = length - 1
        yield text[start : end + 1]
        start = end + 1
