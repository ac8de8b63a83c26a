"""An upload as text: too large, empty, binary, UTF-16 or not UTF-8 are refused clearly."""

from __future__ import annotations

import io

import pytest

from webapp.transfer.source import Unreadable, bounded_lines, decode_text, read_limited


class CountingReader(io.BytesIO):
    """A file object that remembers how much was asked of it."""

    asked = 0

    def read(self, size: int | None = -1) -> bytes:
        self.asked += size if size is not None and size >= 0 else 1 << 62
        return super().read(size)


def test_a_file_object_is_read_no_further_than_one_byte_past_the_limit() -> None:
    upload = CountingReader(b"x" * 5000)
    with pytest.raises(Unreadable, match="larger than 1,000 bytes"):
        read_limited(upload, 1000)
    assert upload.asked == 1001


def test_the_limit_itself_is_allowed() -> None:
    assert read_limited(b"x" * 1000, 1000) == b"x" * 1000
    assert read_limited(io.BytesIO(b"x" * 1000), 1000) == b"x" * 1000
    with pytest.raises(Unreadable, match="larger than 20 MiB"):
        read_limited(b"x" * (20 * 1024 * 1024 + 1), 20 * 1024 * 1024)


def test_a_utf8_bom_is_dropped() -> None:
    assert decode_text(b"\xef\xbb\xbftitle\n") == "title\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b" \r\n\t", "empty"),
        (b"\xff\xfet\x00i\x00", "UTF-16"),
        (b"\xfe\xff\x00t\x00i", "UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"PK\x03\x04\x14\x00\x06\x00", "binary"),
        (b"title\nCaf\xe9\n", "byte 0xE9 on line 2"),
        (b"title\n\xc3", "byte 0xC3 on line 2"),
    ],
)
def test_files_that_are_not_utf8_text_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(Unreadable, match=message):
        decode_text(data)


def test_lines_are_cut_without_looking_past_the_limit() -> None:
    assert list(bounded_lines("a\r\nb\n\nc", 10)) == ["a\r\n", "b\n", "\n", "c"]
    with pytest.raises(Unreadable, match="Line 2 is longer than 10") as caught:
        list(bounded_lines("short\n" + "x" * 11 + "\nmore", 10))
    assert caught.value.line == 2
