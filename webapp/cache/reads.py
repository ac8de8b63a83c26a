"""Reading through the cache: look a key up, load from the database on a miss, store it.

Values are stored as msgspec JSON, which is also what the JSON API sends: a cached list
goes out as the bytes the cache returned (`json`), never decoded and encoded again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.cache.backends import OFFLINE, Lookup, ReadCache

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder()
_DECODERS: dict[object, msgspec.json.Decoder[Any]] = {}


def _decode(data: bytes, type_: object) -> Any:
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_)
    return decoder.decode(data)


class CachedReads:
    """Cached reads for one service instance, whose database session may not be open yet.

    `scope` is whose data the reads are (an account): entries are looked up and stored in
    that scope only. `open_session` returns the session if the service has opened one,
    else None: a read served from the cache never opens one.
    """

    def __init__(
        self,
        cache: ReadCache,
        scope: str,
        open_session: Callable[[], AsyncSession | None],
    ) -> None:
        self.cache = cache
        self.scope = scope
        self._open_session = open_session
        # Whether the last read was served from the cache; the API reports it as X-Cache.
        self.last_hit = False

    async def value(self, key: str, type_: object, load: Callable[[], Awaitable[T]]) -> T:
        """The value under `key`, decoded as `type_` (what `load` returns); `load()`
        computes it on a miss."""
        lookup = await self._lookup(key)
        if lookup.value is not None:
            decoded: T = _decode(lookup.value, type_)
            return decoded
        value = await load()
        if lookup.generation is not OFFLINE:
            await self.cache.store(self.scope, key, lookup.generation, _ENCODER.encode(value))
        return value

    async def json(self, key: str, load: Callable[[], Awaitable[object]]) -> bytes:
        """The value under `key` as JSON bytes: on a hit, the cached bytes as they are."""
        lookup = await self._lookup(key)
        if lookup.value is not None:
            return lookup.value
        encoded = _ENCODER.encode(await load())
        await self.cache.store(self.scope, key, lookup.generation, encoded)
        return encoded

    async def _lookup(self, key: str) -> Lookup:
        lookup = await self.cache.fetch(self.scope, key)
        self.last_hit = lookup.hit
        if not lookup.hit:
            await self._end_read_snapshot()
        return lookup

    async def _end_read_snapshot(self) -> None:
        # MariaDB's REPEATABLE READ keeps a transaction on the snapshot of its first read.
        # If this session read before the lookup just made (a page reads the list, then
        # the counts), that snapshot may predate a write whose bump the lookup saw, and
        # what is loaded now would be stored, stale, under the new generation. Ending the
        # read-only transaction makes the load see everything committed before the lookup.
        session = self._open_session()
        if session is None:
            return
        if session.in_transaction() and not (session.new or session.dirty or session.deleted):
            await session.commit()
