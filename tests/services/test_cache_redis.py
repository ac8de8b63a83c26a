"""The Redis read cache against real Redis: hits, invalidation by every write, several
processes sharing one Redis, outages of a private redis-server, TTL, round trips.

Every test runs on SQLite and on MariaDB (the `database_url` fixture). The shared Redis
is used under a key prefix of the test's own; outages use a private `redis-server` on a
spare port (6390-6399) that the test starts, kills and restarts.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import msgspec
import pytest
import redis
import structlog
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from tests.accounts import Person, client_as
from tests.interleave import Gate
from tests.needs import REDIS_URL, need
from tests.services.redis_server import PrivateRedis
from webapp.app import create_app
from webapp.cache import NullReadCache, ReadCache, RedisReadCache
from webapp.db import prepare_database
from webapp.errors import NotFound
from webapp.settings import PROJECT_ROOT, Settings
from webapp.tasks.schemas import Status, TaskCreate, TaskQuery, TaskRead, TaskUpdate
from webapp.tasks.service import TaskService

pytestmark = pytest.mark.redis

# Short, so that the tests see recovery quickly; the app's default is 1 s.
RETRY_SECONDS = 0.05
# Longer than the app's 50 ms: a test machine busy with other suites must not make a
# healthy Redis look down (the outage tests kill or freeze it, which no deadline hides).
DEADLINE_MS = 250


def redis_cache(url: str, prefix: str, *, ttl_seconds: int = 300) -> RedisReadCache:
    return RedisReadCache.from_url(
        url,
        ttl_seconds=ttl_seconds,
        prefix=prefix,
        socket_timeout_ms=DEADLINE_MS,
        retry_seconds=RETRY_SECONDS,
    )


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis, emptied afterwards."""
    need("redis")
    prefix = f"test:cache:{uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def read_cache(prefix: str) -> ReadCache:
    """The app's cache (conftest's `app` and `client` use it); the app's lifespan closes it.

    Only the app may use it: the test client runs the app on an event loop of its own,
    and an asyncio Redis connection belongs to one loop.
    """
    return redis_cache(REDIS_URL, prefix)


ServiceFactory = Callable[[ReadCache], TaskService]


@pytest.fixture
async def new_service(engine: AsyncEngine, person: Person) -> AsyncIterator[ServiceFactory]:
    """TaskServices on fresh sessions, as successive requests get them."""
    sessions = []
    maker = async_sessionmaker(engine, expire_on_commit=False)

    def make(cache: ReadCache) -> TaskService:
        session = maker()
        sessions.append(session)
        return TaskService(session, cache, person.caller)

    yield make
    for session in sessions:
        await session.close()


@pytest.fixture
async def test_loop_cache(prefix: str) -> AsyncIterator[RedisReadCache]:
    """A cache for services called directly from the test (the test's event loop)."""
    cache = redis_cache(REDIS_URL, prefix)
    yield cache
    await cache.close()


def redis_get(url: str, key: str) -> bytes | None:
    client = redis.Redis.from_url(url)
    try:
        value = client.get(key)
        assert value is None or isinstance(value, bytes)
        return value
    finally:
        client.close()


def generation(url: str, prefix: str) -> int:
    """The global generation (bumped by recoveries and resets)."""
    return int(redis_get(url, f"{prefix}gen") or 0)


def entry_key(url: str, prefix: str, scope: str, key: str) -> str:
    """Where an entry of `scope` is stored now: under both generations."""
    scoped = int(redis_get(url, f"{prefix}gen:{scope}") or 0)
    return f"{prefix}e:{scope}:{generation(url, prefix)}.{scoped}:{key}"


# Scopes for the tests that use the cache alone, without accounts.
SCOPE = "a" * 32


async def wait_until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        await asyncio.sleep(0.02)


async def list_titles(client: AsyncTestClient[Litestar]) -> tuple[str, list[str]]:
    response = await client.get("/api/tasks")
    assert response.status_code == 200
    return response.headers["X-Cache"], [task["title"] for task in response.json()["items"]]


# ------------------------------------------------------------------ hits and misses


async def test_reads_miss_then_hit_and_are_stored_under_the_prefix(
    client: AsyncTestClient[Litestar], prefix: str, person: Person
) -> None:
    created = (await client.post("/api/tasks", json={"title": "Buy milk"})).json()
    for path in ("/api/tasks", "/api/tasks/counts", f"/api/tasks/{created['id']}", "/api/trash"):
        miss = await client.get(path)
        hit = await client.get(path)
        assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT"), path
        assert hit.json() == miss.json(), path
    stored = redis_get(
        REDIS_URL, entry_key(REDIS_URL, prefix, person.caller.cache_scope, "counts:all")
    )
    assert stored is not None
    assert msgspec.json.decode(stored) == {"active": 1, "completed": 0, "trash": 0}


async def test_concurrent_reads_share_one_round_trip(private_redis: PrivateRedis) -> None:
    cache = redis_cache(private_redis.url, "t:")
    try:
        keys = [f"key-{n}" for n in range(20)]
        lookups = await asyncio.gather(*(cache.fetch(SCOPE, key) for key in keys))
        for key, lookup in zip(keys, lookups, strict=True):
            await cache.store(SCOPE, key, lookup.generation, key.encode())
        before = private_redis.commands()
        hits = await asyncio.gather(*(cache.fetch(SCOPE, key) for key in keys))
        assert [lookup.value for lookup in hits] == [key.encode() for key in keys]
        # One script call; inside it, a GET of the global generation, then per entry its
        # scope's generation and the entry.
        assert private_redis.commands_since(before) == {"evalsha": 1, "get": 1 + 2 * len(keys)}

        before = private_redis.commands()
        same = await asyncio.gather(*(cache.fetch(SCOPE, "key-7") for _ in range(10)))
        assert {lookup.value for lookup in same} == {b"key-7"}
        # A key many requests ask for at once is read once.
        assert private_redis.commands_since(before) == {"evalsha": 1, "get": 3}
    finally:
        await cache.close()


async def test_an_api_hit_is_one_round_trip_and_nothing_else(
    settings: Settings, private_redis: PrivateRedis, person: Person
) -> None:
    """Authentication included: the token's account is remembered in the process."""
    app = create_app(settings, read_cache=redis_cache(private_redis.url, "t:"))
    async with client_as(app, person) as client:
        await client.post("/api/tasks", json={"title": "Buy milk"})
        await client.get("/api/tasks")
        before = private_redis.commands()
        assert (await client.get("/api/tasks")).headers["X-Cache"] == "HIT"
        # One script call (its GETs: the two generations, then the entry), nothing else.
        assert private_redis.commands_since(before) == {"evalsha": 1, "get": 3}


# ------------------------------------------------------------------ every write invalidates


@dataclass
class Seeded:
    active: TaskRead
    done: TaskRead
    binned: TaskRead


async def seed(service: TaskService) -> Seeded:
    active = await service.create(TaskCreate(title="Active"))
    done = await service.create(TaskCreate(title="Done"))
    await service.complete(done.id)
    binned = await service.create(TaskCreate(title="Binned"))
    await service.delete(binned.id)
    return Seeded(active=active, done=done, binned=binned)


WRITES: dict[str, Callable[[TaskService, Seeded], Awaitable[object]]] = {
    "create": lambda s, t: s.create(TaskCreate(title="New")),
    "update": lambda s, t: s.update(t.active.id, TaskUpdate(title="Renamed")),
    "complete": lambda s, t: s.complete(t.active.id),
    "reopen": lambda s, t: s.reopen(t.done.id),
    "delete": lambda s, t: s.delete(t.active.id),
    "restore": lambda s, t: s.restore(t.binned.id),
    "purge": lambda s, t: s.purge(t.binned.id),
    "empty_trash": lambda s, t: s.empty_trash(),
    "clear_completed": lambda s, t: s.clear_completed(),
    "complete_all": lambda s, t: s.complete_all(),
    "reopen_all": lambda s, t: s.reopen_all(),
}


# Public TaskService members that are not a write a user makes: cached reads, uncached
# helpers of the restore job (which invalidates after its own commit), accessors.
NOT_WRITES = {
    "get",
    "list_tasks",
    "list_tasks_json",
    "counts",
    "is_listed",
    "session",
    "last_read_hit",
}


def test_every_write_of_the_service_is_covered() -> None:
    public = {name for name in vars(TaskService) if not name.startswith("_")}
    unknown = public - NOT_WRITES - set(WRITES)
    assert not unknown, f"add {sorted(unknown)} to WRITES (or, if not a write, NOT_WRITES)"


async def view(service: TaskService, seeded: Seeded) -> tuple[dict[str, Any], list[bool]]:
    """Everything a user can read, and whether each read was a cache hit."""
    hits = []
    seen: dict[str, Any] = {}
    seen["list"] = msgspec.to_builtins(await service.list_tasks(TaskQuery()))
    hits.append(service.last_read_hit)
    # The JSON API's door: the page as the cached bytes.
    for name, query in (
        ("active", TaskQuery(status=Status.ACTIVE)),
        ("trash", TaskQuery(trash=True)),
    ):
        seen[name] = msgspec.json.decode(await service.list_tasks_json(query))
        hits.append(service.last_read_hit)
    seen["counts"] = msgspec.to_builtins(await service.counts())
    hits.append(service.last_read_hit)
    for task in (seeded.active, seeded.done, seeded.binned):
        try:
            seen[task.title] = msgspec.to_builtins(await service.get(task.id, where="any"))
        except NotFound:
            seen[task.title] = None
        hits.append(service.last_read_hit)
    return seen, hits


@pytest.mark.parametrize("write", sorted(WRITES))
async def test_every_write_makes_the_next_read_miss_and_show_it(
    write: str, new_service: ServiceFactory, test_loop_cache: RedisReadCache
) -> None:
    seeded = await seed(new_service(test_loop_cache))
    await view(new_service(test_loop_cache), seeded)
    before, hits = await view(new_service(test_loop_cache), seeded)
    assert all(hits), "every read is cached before the write"

    await WRITES[write](new_service(test_loop_cache), seeded)

    after, hits = await view(new_service(test_loop_cache), seeded)
    truth, _ = await view(new_service(NullReadCache()), seeded)
    assert not any(hits), "every read after a write is a miss"
    assert after == truth
    assert after != before
    again, hits = await view(new_service(test_loop_cache), seeded)
    assert all(hits)
    assert again == truth


async def test_a_read_in_an_older_transaction_never_caches_stale_data(
    new_service: ServiceFactory, test_loop_cache: RedisReadCache
) -> None:
    # On MariaDB (REPEATABLE READ) a session keeps the snapshot of its first read: a page
    # that reads the list, then the counts, after someone else's write in between must
    # not store pre-write counts under the post-write generation.
    await new_service(test_loop_cache).create(TaskCreate(title="First"))
    page_reader = new_service(test_loop_cache)
    await page_reader.list_tasks(TaskQuery())
    await new_service(test_loop_cache).create(TaskCreate(title="Second"))
    counts = await page_reader.counts()
    assert (counts.active, page_reader.last_read_hit) == (2, False)
    fresh = new_service(test_loop_cache)
    assert (await fresh.counts()).active == 2
    assert fresh.last_read_hit


async def test_a_write_keeps_other_accounts_cached_reads_and_never_shows_them_its_own(
    settings: Settings, prefix: str, person: Person, stranger: Person
) -> None:
    """Per-account scopes: Ada's write retires Ada's entries only; Bob's list stays a hit
    and holds nothing of hers, though both lists have the same cache key."""
    app = create_app(settings, read_cache=redis_cache(REDIS_URL, prefix))
    # One client (one event loop, as the app's Redis connections need); each request
    # says whose it is with its token.
    async with AsyncTestClient(app=app) as client:

        async def titles(who: Person) -> tuple[str, list[str]]:
            response = await client.get("/api/tasks", headers=who.bearer)
            return response.headers["X-Cache"], [t["title"] for t in response.json()["items"]]

        await client.post("/api/tasks", json={"title": "Bob's"}, headers=stranger.bearer)
        for who in (person, stranger):
            await titles(who)
        assert await titles(stranger) == ("HIT", ["Bob's"])

        await client.post("/api/tasks", json={"title": "Ada's"}, headers=person.bearer)
        assert await titles(person) == ("MISS", ["Ada's"])
        assert await titles(stranger) == ("HIT", ["Bob's"])
        assert await titles(person) == ("HIT", ["Ada's"])


# ------------------------------------------------------------------ several processes


async def test_two_app_instances_share_one_redis(
    settings: Settings, prefix: str, person: Person
) -> None:
    app_a = create_app(settings, read_cache=redis_cache(REDIS_URL, prefix))
    app_b = create_app(settings, read_cache=redis_cache(REDIS_URL, prefix))
    async with client_as(app_a, person) as a, client_as(app_b, person) as b:
        await a.post("/api/tasks", json={"title": "From A"})
        assert await list_titles(a) == ("MISS", ["From A"])
        assert await list_titles(b) == ("HIT", ["From A"])  # stored by A, served to B

        assert (await b.post("/api/tasks", json={"title": "From B"})).status_code == 201
        assert await list_titles(a) == ("MISS", ["From B", "From A"])
        assert await list_titles(b) == ("HIT", ["From B", "From A"])

        task_id = (await a.get("/api/tasks")).json()["items"][0]["id"]
        assert (await b.delete(f"/api/tasks/{task_id}")).status_code == 204
        assert await list_titles(a) == ("MISS", ["From A"])


async def test_a_write_racing_a_read_on_another_process_leaves_nothing_stale_on_either(
    new_service: ServiceFactory, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes (two caches on one Redis prefix). Process B reads a task: it looks it
    up (a miss), loads the old row, and is stopped before it stores it. Process A writes
    the task and returns. B then stores what it loaded. Neither process may serve the old
    row after A's write returned."""
    cache_a, cache_b = redis_cache(REDIS_URL, prefix), redis_cache(REDIS_URL, prefix)
    try:
        task = await new_service(cache_a).create(TaskCreate(title="before"))
        gate = Gate()
        store = cache_b.store

        async def store_after_the_gate(
            scope: str, key: str, generation: str | None, value: bytes
        ) -> None:
            await gate.stop_here()
            await store(scope, key, generation, value)

        monkeypatch.setattr(cache_b, "store", store_after_the_gate)
        slow_read = asyncio.create_task(new_service(cache_b).get(task.id))
        await gate.wait_until_reached()
        await new_service(cache_a).update(task.id, TaskUpdate(title="after"))
        gate.open()
        assert (await slow_read).title == "before"  # it began before the write
        monkeypatch.setattr(cache_b, "store", store)

        for cache in (cache_a, cache_b, cache_a, cache_b):
            assert (await new_service(cache).get(task.id)).title == "after"
    finally:
        await cache_a.close()
        await cache_b.close()


WORKER_WRITE = """
import asyncio, os, uuid
from sqlalchemy.ext.asyncio import async_sessionmaker
from webapp.accounts.caller import Caller
from webapp.cache import build_read_cache
from webapp.db import create_engine
from webapp.settings import load_settings
from webapp.tasks.schemas import TaskCreate
from webapp.tasks.service import TaskService

async def main():
    settings = load_settings()
    engine = create_engine(settings)
    cache = build_read_cache(settings)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        caller = Caller(uuid.UUID(os.environ["ACCOUNT_ID"]))
        await TaskService(session, cache, caller).create(TaskCreate(title="From the worker"))
    await cache.close()
    await engine.dispose()

asyncio.run(main())
"""


async def test_a_write_from_another_process_is_seen_on_the_next_read(
    client: AsyncTestClient[Litestar], settings: Settings, prefix: str, person: Person
) -> None:
    await client.post("/api/tasks", json={"title": "From the app"})
    await list_titles(client)
    assert await list_titles(client) == ("HIT", ["From the app"])
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
        "ACCOUNT_ID": str(person.account_id),
    }
    # The worker process builds its cache from settings, as the Dramatiq worker does.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER_WRITE, env=env, cwd=PROJECT_ROOT
    )
    assert await process.wait() == 0
    assert await list_titles(client) == ("MISS", ["From the worker", "From the app"])


# ------------------------------------------------------------------ outages


async def test_an_outage_degrades_to_the_database_and_never_resurrects_stale_entries(
    settings: Settings, private_redis: PrivateRedis, person: Person
) -> None:
    cache = redis_cache(private_redis.url, "t:")
    async with client_as(create_app(settings, read_cache=cache), person) as client:
        await client.post("/api/tasks", json={"title": "Before"})
        await list_titles(client)
        assert await list_titles(client) == ("HIT", ["Before"])
        stale_generation = generation(private_redis.url, "t:")
        stale_key = entry_key(
            private_redis.url, "t:", person.caller.cache_scope, TaskQuery().cache_key()
        )

        private_redis.kill()
        with structlog.testing.capture_logs() as logs:
            assert await list_titles(client) == ("MISS", ["Before"])
            assert (await client.post("/api/tasks", json={"title": "During"})).status_code == 201
            for _ in range(5):
                assert await list_titles(client) == ("MISS", ["During", "Before"])
            ready = await client.get("/ready")
            assert ready.status_code == 200
            assert (ready.json()["status"], ready.json()["cache"]) == ("ready", "degraded")
            assert not cache.available

            private_redis.start()
            # The entry cached before the outage is back with the server (proof that the
            # test could fail): only the generation bump keeps it from being served.
            stale = redis_get(private_redis.url, stale_key)
            assert stale is not None
            assert b"Before" in stale
            assert b"During" not in stale
            await wait_until(lambda: cache.available, "caching to resume")

            assert await list_titles(client) == ("MISS", ["During", "Before"])
            assert await list_titles(client) == ("HIT", ["During", "Before"])
            assert generation(private_redis.url, "t:") > stale_generation
            assert (await client.get("/ready")).json()["cache"] == "ok"

    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1, warnings
    assert "unavailable" in warnings[0]["event"]
    assert any("caching resumed" in entry["event"] for entry in logs)


async def test_a_process_that_only_saw_the_outage_bumps_for_a_writer_that_died(
    new_service: ServiceFactory, private_redis: PrivateRedis
) -> None:
    writer_cache = redis_cache(private_redis.url, "t:")
    reader_cache = redis_cache(private_redis.url, "t:")
    writer = new_service(writer_cache)
    task = await writer.create(TaskCreate(title="Before"))
    await new_service(reader_cache).get(task.id)
    reader = new_service(reader_cache)
    assert (await reader.get(task.id)).title == "Before"
    assert reader.last_read_hit

    private_redis.kill()
    await new_service(reader_cache).get(task.id)  # the reader sees the outage
    await new_service(writer_cache).update(task.id, TaskUpdate(title="During"))
    await writer_cache.close()  # the writer dies before Redis is back: its bump is lost

    private_redis.start()
    await wait_until(lambda: reader_cache.available, "the reader to resume caching")
    reader = new_service(reader_cache)
    assert (await reader.get(task.id)).title == "During"
    assert not reader.last_read_hit
    await reader_cache.close()


async def test_a_writer_bumps_in_the_background_once_redis_is_back(
    new_service: ServiceFactory, private_redis: PrivateRedis
) -> None:
    # The writer gets no request after its failed INCR, and the reader is a process that
    # starts after the outage (it saw nothing): the writer's retry, off any request, is
    # what keeps the entry cached before the outage from being served to it.
    writer_cache = redis_cache(private_redis.url, "t:")
    earlier_cache = redis_cache(private_redis.url, "t:")
    task = await new_service(writer_cache).create(TaskCreate(title="Before"))
    await new_service(earlier_cache).get(task.id)
    await earlier_cache.close()

    private_redis.kill()
    await new_service(writer_cache).update(task.id, TaskUpdate(title="During"))
    assert not writer_cache.available
    private_redis.start()
    await wait_until(lambda: writer_cache.available, "the writer's bump")

    newcomer_cache = redis_cache(private_redis.url, "t:")
    newcomer = new_service(newcomer_cache)
    assert (await newcomer.get(task.id)).title == "During"
    assert not newcomer.last_read_hit
    await writer_cache.close()
    await newcomer_cache.close()


async def test_a_hung_redis_costs_one_timeout_then_reads_and_writes_go_to_the_database(
    settings: Settings, private_redis: PrivateRedis, person: Person
) -> None:
    cache = redis_cache(private_redis.url, "t:")
    async with client_as(create_app(settings, read_cache=cache), person) as client:
        await client.post("/api/tasks", json={"title": "Before"})
        await list_titles(client)
        assert await list_titles(client) == ("HIT", ["Before"])

        private_redis.pause()  # accepts connections, answers nothing: every call times out
        try:
            assert await list_titles(client) == ("MISS", ["Before"])
            assert not cache.available
            assert (await client.post("/api/tasks", json={"title": "During"})).status_code == 201
            assert await list_titles(client) == ("MISS", ["During", "Before"])
            assert (await client.get("/ready")).json()["cache"] == "degraded"
        finally:
            private_redis.resume()
        await wait_until(lambda: cache.available, "caching to resume")
        assert await list_titles(client) == ("MISS", ["During", "Before"])
        assert await list_titles(client) == ("HIT", ["During", "Before"])


async def test_a_late_answer_from_a_healthy_redis_costs_a_miss_not_an_outage(
    new_service: ServiceFactory, private_redis: PrivateRedis
) -> None:
    """What a saturated event loop looks like from the cache: one call answered past its
    deadline. Redis is healthy (a PING says so), so caching goes on: no breaker, no
    warning, no cache flush."""
    cache = redis_cache(private_redis.url, "t:")
    try:
        task = await new_service(cache).create(TaskCreate(title="Kept"))
        await new_service(cache).get(task.id)
        generation_before = generation(private_redis.url, "t:")
        sleeper = redis.Redis(port=private_redis.port)
        with structlog.testing.capture_logs() as logs:
            # Redis answers nothing for 0.6 s (one command runs at a time): later than
            # the 250 ms deadline, sooner than the PING's PROBE_SECONDS.
            asleep = asyncio.create_task(
                asyncio.to_thread(sleeper.execute_command, "DEBUG", "SLEEP", "0.6")
            )
            await asyncio.sleep(0.05)
            late = new_service(cache)
            assert (await late.get(task.id)).title == "Kept"
            assert not late.last_read_hit
            await asleep
            await wait_until(lambda: cache.available, "the PING to clear Redis")
            hit = new_service(cache)
            assert (await hit.get(task.id)).title == "Kept"
            assert hit.last_read_hit
        sleeper.close()
        assert cache.outages == 0
        assert [e for e in logs if e["log_level"] in {"warning", "error"}] == []
        assert generation(private_redis.url, "t:") == generation_before
    finally:
        await cache.close()


async def test_one_outage_is_one_warning_and_one_recovery_however_many_connections(
    private_redis: PrivateRedis,
) -> None:
    """The pool holds several connections when Redis dies. After it is back they are all
    dead: reusing them must not trip the breaker again and again (which emptied the cache
    four or five times after one outage)."""
    cache = redis_cache(private_redis.url, "t:")
    try:

        async def busy() -> None:
            # Stores, bumps and reads at once: each store and bump needs a connection.
            await asyncio.gather(
                *(cache.store(SCOPE, f"k{n}", "1.1", b"x") for n in range(6)),
                *(cache.invalidate([SCOPE]) for _ in range(3)),
                *(cache.fetch(SCOPE, f"k{n}") for n in range(3)),
            )

        await busy()
        with structlog.testing.capture_logs() as logs:
            private_redis.kill()
            await busy()
            assert not cache.available
            private_redis.start()
            await wait_until(lambda: cache.available, "caching to resume")
            for _ in range(10):
                await busy()
                assert cache.available
        assert cache.outages == 1
        warnings = [e for e in logs if e["log_level"] == "warning"]
        recoveries = [e for e in logs if "caching resumed" in e["event"]]
        assert (len(warnings), len(recoveries)) == (1, 1), logs
    finally:
        await cache.close()


# ------------------------------------------------------------------ TTL


async def test_entries_expire_after_cache_ttl_seconds(
    new_service: ServiceFactory, prefix: str, person: Person
) -> None:
    cache = redis_cache(REDIS_URL, prefix, ttl_seconds=1)
    try:
        await new_service(cache).create(TaskCreate(title="Short-lived"))
        await new_service(cache).counts()
        cached = new_service(cache)
        await cached.counts()
        assert cached.last_read_hit
        client = redis.Redis.from_url(REDIS_URL)
        ttl_ms = client.pttl(entry_key(REDIS_URL, prefix, person.caller.cache_scope, "counts:all"))
        client.close()
        assert 0 < ttl_ms <= 1000
        await asyncio.sleep(1.1)
        expired = new_service(cache)
        await expired.counts()
        assert not expired.last_read_hit
    finally:
        await cache.close()


async def test_ttl_zero_caches_nothing_but_writes_still_invalidate(
    new_service: ServiceFactory, prefix: str, test_loop_cache: RedisReadCache
) -> None:
    uncached = redis_cache(REDIS_URL, prefix, ttl_seconds=0)
    try:
        task = await new_service(test_loop_cache).create(TaskCreate(title="Old"))
        await new_service(test_loop_cache).get(task.id)
        for _ in range(2):
            reader = new_service(uncached)
            await reader.get(task.id)
            assert not reader.last_read_hit
        await new_service(uncached).update(task.id, TaskUpdate(title="New"))
        cached = new_service(test_loop_cache)
        assert (await cached.get(task.id)).title == "New"
    finally:
        await uncached.close()


def test_database_reset_makes_every_cached_read_unreachable(prefix: str, tmp_path: Path) -> None:
    """DB_RESET_ON_START drops the tables; what Redis holds of them must go too."""
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'reset.sqlite3'}",
        redis_url=REDIS_URL,
        cache_key_prefix=prefix,
        db_reset_on_start=True,
    )

    async def cached_generation() -> tuple[bool, str | None]:
        cache = redis_cache(REDIS_URL, prefix)
        try:
            lookup = await cache.fetch(SCOPE, "list:stale")
            if not lookup.hit:
                await cache.store(SCOPE, "list:stale", lookup.generation, b"from the old tables")
            return lookup.hit, lookup.generation
        finally:
            await cache.close()

    asyncio.run(cached_generation())
    assert asyncio.run(cached_generation())[0], "the entry should be cached before the reset"
    prepare_database(settings)
    hit, _ = asyncio.run(cached_generation())
    assert not hit, "an entry cached before the reset was served after it"
