"""Gathering small encoded pieces into chunks of a useful size.

Renderers encode one record at a time; handing each record's few hundred bytes to the
response on its own would cost a write (and, over ASGI, a message) per task. A `Chunker`
gathers them and hands out about `CHUNK_BYTES` at a time, so memory stays at one chunk
however many tasks go through.
"""

from __future__ import annotations

from typing import Final

CHUNK_BYTES: Final = 64 * 1024


class Chunker:
    """Collects bytes; `add` returns a chunk once `size` bytes are waiting, `flush` the rest."""

    __slots__ = ("_parts", "_size", "_waiting")

    def __init__(self, size: int = CHUNK_BYTES) -> None:
        self._parts: list[bytes] = []
        self._waiting = 0
        self._size = size

    def add(self, piece: bytes) -> bytes | None:
        """Take `piece`; a chunk to send if enough is waiting, else None."""
        self._parts.append(piece)
        self._waiting += len(piece)
        return self.flush() if self._waiting >= self._size else None

    def flush(self) -> bytes:
        """Everything waiting (possibly nothing), as one chunk."""
        chunk = b"".join(self._parts)
        self._parts.clear()
        self._waiting = 0
        return chunk
