"""The read cache: the stores (`backends`) and how services read through them (`reads`)."""

from webapp.cache.backends import (
    OFFLINE,
    Lookup,
    MemoryReadCache,
    NullReadCache,
    ReadCache,
    RedisReadCache,
    build_read_cache,
)
from webapp.cache.reads import CachedReads

__all__ = [
    "OFFLINE",
    "CachedReads",
    "Lookup",
    "MemoryReadCache",
    "NullReadCache",
    "ReadCache",
    "RedisReadCache",
    "build_read_cache",
]
