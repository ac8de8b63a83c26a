"""The read cache: data (never rendered pages) keyed under a generation counter.

A read asks for a key and gets back the value (or None) together with the generation it
was looked up under; a miss is then stored under that same generation. A write bumps the
generation after its commit, so every entry written before it becomes unreachable at once,
in every process sharing the store, without scanning keys. An entry loaded while a write
was committing is stored under the old generation and so is never served.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Lookup:
    value: bytes | None
    generation: int

    @property
    def hit(self) -> bool:
        return self.value is not None


class ReadCache(Protocol):
    """What the services need of a cache; see the module docstring for the contract."""

    async def fetch(self, key: str) -> Lookup: ...

    async def store(self, key: str, generation: int, value: bytes) -> None: ...

    async def invalidate(self) -> None: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class MemoryReadCache:
    """In-process cache for a single process (the local run mode and unit tests)."""

    def __init__(self, ttl_seconds: int, max_entries: int = 2048) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._generation = 0
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def fetch(self, key: str) -> Lookup:
        full_key = f"{self._generation}:{key}"
        entry = self._entries.get(full_key)
        if entry is None or entry[0] < time.monotonic():
            return Lookup(None, self._generation)
        self._entries.move_to_end(full_key)
        return Lookup(entry[1], self._generation)

    async def store(self, key: str, generation: int, value: bytes) -> None:
        if self._ttl == 0 or generation != self._generation:
            return
        self._entries[f"{generation}:{key}"] = (time.monotonic() + self._ttl, value)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def invalidate(self) -> None:
        self._generation += 1
        self._entries.clear()

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._entries.clear()


class NullReadCache:
    """No caching at all (used to measure the database path)."""

    async def fetch(self, key: str) -> Lookup:
        return Lookup(None, 0)

    async def store(self, key: str, generation: int, value: bytes) -> None:
        return None

    async def invalidate(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None
