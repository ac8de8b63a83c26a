"""The in-process and null read caches, the choice of back end, and X-Cache on the API."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.databases import make_settings
from webapp.cache import (
    OFFLINE,
    MemoryReadCache,
    NullReadCache,
    RedisReadCache,
    build_read_cache,
)

# Two accounts' scopes.
A = "a" * 32
B = "b" * 32


class Clock:
    """Stands in for time.monotonic so expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("webapp.cache.backends.time.monotonic", clock)
    return clock


async def test_memory_cache_misses_then_hits_what_was_stored() -> None:
    cache = MemoryReadCache(ttl_seconds=60)
    first = await cache.fetch(A, "list")
    assert first.value is None
    assert not first.hit
    await cache.store(A, "list", first.generation, b'{"items":[]}')
    second = await cache.fetch(A, "list")
    assert second.hit
    assert second.value == b'{"items":[]}'
    assert (await cache.fetch(A, "other")).value is None


async def test_memory_cache_invalidate_makes_every_entry_a_miss() -> None:
    cache = MemoryReadCache(ttl_seconds=60)
    for key in ("list", "counts"):
        await cache.store(A, key, (await cache.fetch(A, key)).generation, b"old")
    await cache.invalidate([A])
    assert (await cache.fetch(A, "list")).value is None
    assert (await cache.fetch(A, "counts")).value is None


async def test_memory_cache_invalidating_one_scope_keeps_the_others() -> None:
    cache = MemoryReadCache(ttl_seconds=60)
    for scope in (A, B):
        await cache.store(
            scope, "list", (await cache.fetch(scope, "list")).generation, scope.encode()
        )
    await cache.invalidate([A])
    assert (await cache.fetch(A, "list")).value is None
    assert (await cache.fetch(B, "list")).value == B.encode()
    await cache.invalidate_all()
    assert (await cache.fetch(B, "list")).value is None


async def test_memory_cache_never_serves_one_scope_what_another_stored() -> None:
    cache = MemoryReadCache(ttl_seconds=60)
    lookup = await cache.fetch(A, "list")
    await cache.store(A, "list", lookup.generation, b"A's list")
    # B's lookup of the same key, under a generation number equal to A's, misses.
    assert (await cache.fetch(B, "list")).generation == lookup.generation
    assert (await cache.fetch(B, "list")).value is None


async def test_memory_cache_drops_a_value_loaded_before_a_write() -> None:
    # A read looks up generation g, a write commits and bumps, then the read stores what
    # it loaded: that value may predate the write, so it must never be served.
    cache = MemoryReadCache(ttl_seconds=60)
    lookup = await cache.fetch(A, "list")
    await cache.invalidate([A])
    await cache.store(A, "list", lookup.generation, b"loaded before the write")
    assert (await cache.fetch(A, "list")).value is None


async def test_memory_cache_entries_expire_after_the_ttl(clock: Clock) -> None:
    cache = MemoryReadCache(ttl_seconds=30)
    await cache.store(A, "list", (await cache.fetch(A, "list")).generation, b"v")
    clock.now += 29
    assert (await cache.fetch(A, "list")).value == b"v"
    clock.now += 2
    assert (await cache.fetch(A, "list")).value is None


async def test_memory_cache_with_ttl_zero_never_stores() -> None:
    cache = MemoryReadCache(ttl_seconds=0)
    await cache.store(A, "list", (await cache.fetch(A, "list")).generation, b"v")
    assert (await cache.fetch(A, "list")).value is None


async def test_memory_cache_evicts_the_least_recently_used_entry() -> None:
    cache = MemoryReadCache(ttl_seconds=60, max_entries=2)
    generation = (await cache.fetch(A, "a")).generation
    await cache.store(A, "a", generation, b"a")
    await cache.store(A, "b", generation, b"b")
    await cache.fetch(A, "a")  # "a" is now the most recently used
    await cache.store(A, "c", generation, b"c")
    assert (await cache.fetch(A, "a")).value == b"a"
    assert (await cache.fetch(A, "b")).value is None
    assert (await cache.fetch(A, "c")).value == b"c"


async def test_null_cache_never_hits() -> None:
    cache = NullReadCache()
    lookup = await cache.fetch(A, "list")
    await cache.store(A, "list", lookup.generation, b"v")
    assert lookup.generation == OFFLINE
    assert (await cache.fetch(A, "list")).value is None
    assert await cache.ping()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, MemoryReadCache),
        ({"cache_ttl_seconds": 0}, NullReadCache),
        ({"redis_url": "redis://127.0.0.1:6379/0"}, RedisReadCache),
        ({"redis_url": "redis://127.0.0.1:6379/0", "cache_ttl_seconds": 0}, RedisReadCache),
    ],
)
async def test_the_settings_choose_the_back_end(
    overrides: dict[str, object], expected: type[object]
) -> None:
    cache = build_read_cache(make_settings("sqlite+aiosqlite://", **overrides))
    assert type(cache) is expected
    await cache.close()


async def test_api_reads_say_miss_then_hit_with_the_same_body(
    client: AsyncTestClient[Litestar],
) -> None:
    created = (await client.post("/api/tasks", json={"title": "Buy milk"})).json()
    for path in (
        "/api/tasks",
        "/api/tasks?status=active&q=milk&sort=title&order=asc&limit=10",
        "/api/tasks/counts",
        f"/api/tasks/{created['id']}",
        "/api/trash",
    ):
        miss = await client.get(path)
        hit = await client.get(path)
        assert (miss.status_code, miss.headers["X-Cache"]) == (200, "MISS"), path
        assert (hit.status_code, hit.headers["X-Cache"]) == (200, "HIT"), path
        assert hit.json() == miss.json(), path
        assert hit.headers["content-type"] == "application/json"


async def test_a_list_served_from_the_cache_is_still_documented_as_a_task_page(
    client: AsyncTestClient[Litestar],
) -> None:
    schema = (await client.get("/docs/openapi.json")).json()
    for path in ("/api/tasks", "/api/trash"):
        ok = schema["paths"][path]["get"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith("TaskPage")
        assert "X-Cache" in ok["headers"]
