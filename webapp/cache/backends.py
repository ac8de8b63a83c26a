"""The read cache: data (never rendered pages) keyed under a generation counter.

The contract
------------
Entries belong to a *scope*: the account whose data they hold. A read asks for a key in a
scope and gets back the value (or None) together with the generation it was looked up
under; a miss is then stored under that same generation. A write bumps its scope's
generation after its commit, so every entry of that scope written before it becomes
unreachable at once, in every process sharing the store, without scanning keys, while
other accounts' entries stay. A read that looked up generation g before a write and
loaded from the database around the write's commit stores its result under g, which the
write's bump has made (or is about to make) unreachable: it is never served after the
write has returned. A scope's key space is its own: no lookup in one scope can reach an
entry of another.

Back ends: `RedisReadCache` (REDIS_URL set; shared by every app and worker process),
`MemoryReadCache` (one process, the local default) and `NullReadCache` (caching off).
`build_read_cache(settings)` chooses; the app and the Dramatiq worker both use it.

Redis layout: `<prefix>gen:<scope>` holds a scope's generation (INCR on every write in
it); `<prefix>gen` a global one, bumped when Redis comes back from an outage and when the
database is reset, which retires every scope's entries at once. A generation is the pair
"<global>.<scope's>"; an entry lives at `<prefix>e:<scope>:<generation>:<key>` with a TTL
of CACHE_TTL_SECONDS. A hit is one round trip: a Lua script (EVALSHA) reads the
generations and the entry together. Reads issued in the same
turn of the event loop (concurrent requests) share that round trip, the script reading all
their entries under one global generation: under load this halves the client-side cost of a hit
and needs a handful of connections instead of one per request. The script builds the
entries' keys from the generations it has just read, so they are not declared in KEYS: fine
on a single Redis or a replica set, not on Redis Cluster.

Degradation, and why no stale entry outlives an outage
------------------------------------------------------
A read or a store not answered within CACHE_SOCKET_TIMEOUT_MS (no retries; the deadline
tolerates a reply that only waited for this busy event loop) makes Redis *suspect*: reads
and stores skip it while a background PING with a generous deadline (PROBE_SECONDS)
decides. A saturated event loop is not a dead Redis: if the PING is answered, caching
goes on and nothing is logged above debug. That is safe without a bump: reads and stores
that were skipped lose nothing, and a store that did reach Redis late stored data loaded
after its lookup, under the generation of that lookup (see the contract above).

A failed PING, any other Redis error, or a write's INCR that fails or times out *opens
the breaker*: one warning is logged, and from then on this process does not talk to
Redis on the request path at all. Reads are misses served from the database, stores are
dropped, writes commit and succeed. A background task probes Redis every `retry_seconds`;
its probe *is* the bump of the global generation (INCR), made on fresh connections (the pool's
connections to a Redis that restarted are dead, and reusing them tripped the breaker
again and again after one outage). Only when that INCR succeeds does the breaker close
(an info line is logged) and caching resume, so:

- This process never reads from Redis after an outage before it has bumped the
  generation. Its own writes made during the outage (whose INCR failed or was skipped)
  are therefore seen by its next read. A process bumps after *any* failure, not only a
  failed INCR: it cannot know whether another process wrote while Redis was unreachable,
  so it assumes one did. The cost is one cache flush per outage.
- A timed-out command may still have run on the server: an INCR that did is a harmless
  extra bump; a SET that did stored an entry under a generation the recovery bump
  retires.
- Lookups taken while the breaker was open carry the generation OFFLINE, which is never
  stored, so a read that straddles the recovery cannot write an entry under the new
  generation from data loaded before it.
- Other processes: a process that had traffic during a full outage saw failures too and
  bumps on its own recovery, before its first read. A process that had no traffic during
  the outage (or that was not cut off: a partition between one process and Redis) does
  not know. It may serve a pre-outage entry until some process that wrote during the
  outage gets its INCR through, which that process retries in the background every
  `retry_seconds` (1 s by default) from the moment Redis answers it again. That window
  is the residual risk; it is bounded by `retry_seconds` after Redis is reachable from
  the writer, and in the worst case (the writer dies before Redis comes back, its debt
  lost) by CACHE_TTL_SECONDS, since every entry expires. Closing it completely would
  take a database round trip on every hit, which would defeat the cache.
- A Redis that restarts from an older snapshot may bring back an older generation with
  the entries stored under it. Every process that saw the restart as failures bumps past
  it on recovery; the same residual window as above applies to those that did not.

The breaker is per process and per event loop: create one cache per process (the app
does so in `create_app`, the worker once per worker process) and use it from one loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from webapp.settings import Settings

T = TypeVar("T")

# The generation of a lookup made without the store (Redis unreachable, caching off):
# never a real generation, so whatever is loaded after it is not stored.
OFFLINE = None

# One round trip for any number of reads: the generations and the entries under them,
# read atomically. ARGV is the key prefix, then (scope, key) pairs; the reply holds, for
# each pair, its generation and its value (or nil).
_FETCH_SCRIPT = """
local global = redis.call('GET', KEYS[1]) or '0'
local reply = {}
for i = 2, #ARGV, 2 do
  local generation = global .. '.' .. (redis.call('GET', ARGV[1] .. 'gen:' .. ARGV[i]) or '0')
  reply[#reply + 1] = generation
  reply[#reply + 1] = redis.call('GET', ARGV[1] .. 'e:' .. ARGV[i] .. ':' .. generation .. ':' .. ARGV[i + 1])
end
return reply
"""

# How many deadlines a call gets when this event loop, not Redis, made them pass.
_LATE_WINDOWS = 4
# How long the PING that confirms a suspected outage may take, at least.
PROBE_SECONDS = 1.0

# Errors that mean "Redis is unreachable, slow or refusing": degrade, never fail the request.
_UNAVAILABLE = (RedisError, OSError)


@dataclass(frozen=True, slots=True)
class Lookup:
    value: bytes | None
    generation: str | None  # OFFLINE (None): not to be stored

    @property
    def hit(self) -> bool:
        return self.value is not None


class ReadCache(Protocol):
    """What the services need of a cache; see the module docstring for the contract."""

    async def fetch(self, scope: str, key: str) -> Lookup: ...

    async def store(self, scope: str, key: str, generation: str | None, value: bytes) -> None: ...

    async def invalidate(self, scopes: Iterable[str]) -> None:
        """Retire the entries of these scopes (after a write to their data commits)."""

    async def invalidate_all(self) -> None:
        """Retire every entry of every scope (the database was reset)."""

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class MemoryReadCache:
    """In-process cache for a single process (the local run mode and unit tests)."""

    def __init__(self, ttl_seconds: int, max_entries: int = 2048) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._generations: dict[str, int] = {}
        # Least recently used first; entries of a retired generation age out like others.
        self._entries: OrderedDict[tuple[str, str, str], tuple[float, bytes]] = OrderedDict()

    def _generation(self, scope: str) -> str:
        return str(self._generations.get(scope, 0))

    async def fetch(self, scope: str, key: str) -> Lookup:
        generation = self._generation(scope)
        full_key = (scope, generation, key)
        entry = self._entries.get(full_key)
        if entry is None or entry[0] < time.monotonic():
            return Lookup(None, generation)
        self._entries.move_to_end(full_key)
        return Lookup(entry[1], generation)

    async def store(self, scope: str, key: str, generation: str | None, value: bytes) -> None:
        if self._ttl == 0 or generation != self._generation(scope):
            return
        self._entries[(scope, generation, key)] = (time.monotonic() + self._ttl, value)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def invalidate(self, scopes: Iterable[str]) -> None:
        for scope in scopes:
            self._generations[scope] = self._generations.get(scope, 0) + 1

    async def invalidate_all(self) -> None:
        # Counters only ever grow, so no entry made before can match again.
        for scope in list(self._generations):
            self._generations[scope] += 1
        self._entries.clear()

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._entries.clear()


class NullReadCache:
    """No caching at all (CACHE_TTL_SECONDS=0 without Redis; measures the database path)."""

    async def fetch(self, scope: str, key: str) -> Lookup:
        return Lookup(None, OFFLINE)

    async def store(self, scope: str, key: str, generation: str | None, value: bytes) -> None:
        return None

    async def invalidate(self, scopes: Iterable[str]) -> None:
        return None

    async def invalidate_all(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def _log() -> Any:
    # Looked up on each (rare) use rather than once: the app configures structlog after
    # this module is imported, and tests capture logs by reconfiguring it.
    return structlog.get_logger(__name__)


class RedisReadCache:
    """The cache shared by every process of the cluster; degrades to no cache on errors.

    With `ttl_seconds=0` it never reads or stores, but writes still bump the generation,
    so processes that do cache (other settings, a worker) never serve what they wrote over.
    """

    def __init__(
        self,
        client: Redis,
        *,
        ttl_seconds: int,
        prefix: str = "tasks:",
        retry_seconds: float = 1.0,
        timeout_seconds: float = 0.05,
    ) -> None:
        self._client = client
        self._timeout = timeout_seconds
        self._ttl = ttl_seconds
        self._prefix = prefix
        self._generation_key = f"{prefix}gen"
        self._retry_seconds = retry_seconds
        self._fetch_script = client.register_script(_FETCH_SCRIPT)
        # Reads waiting for the next round trip, and the round trips in flight.
        self._queued: dict[tuple[str, str], list[asyncio.Future[Lookup]]] = {}
        self._round_trips: set[asyncio.Task[None]] = set()
        # Set while Redis is considered down: the task that probes it and bumps the
        # generation before caching resumes. None means the breaker is closed.
        self._recovery: asyncio.Task[None] | None = None
        # Set while Redis is suspect (a read or store was late): the PING that decides.
        self._confirming: asyncio.Task[None] | None = None
        # Outages seen (breaker openings), for the benchmark and the logs.
        self.outages = 0

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ttl_seconds: int,
        prefix: str = "tasks:",
        socket_timeout_ms: int = 50,
        retry_seconds: float = 1.0,
    ) -> RedisReadCache:
        timeout = socket_timeout_ms / 1000
        # The client's own timeouts are only a backstop: every call is bounded by
        # `timeout` in `_within_deadline` (see there why).
        backstop = max(1.0, 10 * timeout)
        client = Redis.from_url(
            url,
            socket_timeout=backstop,
            socket_connect_timeout=backstop,
            # No retries: one timeout is the whole price of a dead Redis, then the
            # breaker opens. The recovery task does the retrying, off the request path.
            retry=Retry(NoBackoff(), 0),
            # No CLIENT SETINFO on connect: one round trip less to open a connection.
            driver_info=None,
        )
        return cls(
            client,
            ttl_seconds=ttl_seconds,
            prefix=prefix,
            retry_seconds=retry_seconds,
            timeout_seconds=timeout,
        )

    @property
    def available(self) -> bool:
        """False while the breaker is open (Redis failed and has not been bumped since) or
        while a late answer is being looked into."""
        return self._recovery is None and self._confirming is None

    async def fetch(self, scope: str, key: str) -> Lookup:
        if not self.available or self._ttl == 0:
            return Lookup(None, OFFLINE)
        # Reads made in the same turn of the event loop (concurrent requests) share one
        # round trip: under load that cuts the client's cost of each by half or more (see
        # docs/benchmarks.md), and a lone read is a round trip of one.
        loop = asyncio.get_running_loop()
        lookup: asyncio.Future[Lookup] = loop.create_future()
        if not self._queued:
            round_trip = loop.create_task(self._fetch_queued())
            self._round_trips.add(round_trip)
            round_trip.add_done_callback(self._round_trips.discard)
        self._queued.setdefault((scope, key), []).append(lookup)
        return await lookup

    async def _fetch_queued(self) -> None:
        queued, self._queued = self._queued, {}
        waiting = [lookup for lookups in queued.values() for lookup in lookups]
        if not self.available:  # the breaker opened since these were queued
            found = dict.fromkeys(queued, Lookup(None, OFFLINE))
        else:
            try:
                # Each key once, however many requests asked for it (a hot page).
                reply = await self._within_deadline(
                    self._fetch_script(
                        keys=[self._generation_key],
                        args=[self._prefix, *(part for pair in queued for part in pair)],
                    )
                )
                found = {
                    pair: Lookup(value, generation.decode())
                    for pair, generation, value in zip(queued, reply[::2], reply[1::2], strict=True)
                }
            except _UNAVAILABLE as error:
                self._trouble(error)
                found = dict.fromkeys(queued, Lookup(None, OFFLINE))
            except asyncio.CancelledError:
                for lookup in waiting:
                    lookup.cancel()
                raise
            except Exception as error:  # a bug, not an outage: the reads fail loudly
                for lookup in waiting:
                    if not lookup.done():
                        lookup.set_exception(error)
                return
        for pair, lookups in queued.items():
            for lookup in lookups:
                if not lookup.done():  # a request cancelled meanwhile no longer waits
                    lookup.set_result(found[pair])

    async def store(self, scope: str, key: str, generation: str | None, value: bytes) -> None:
        if generation is OFFLINE or not self.available:
            return
        try:
            await self._within_deadline(
                self._client.set(f"{self._prefix}e:{scope}:{generation}:{key}", value, ex=self._ttl)
            )
        except _UNAVAILABLE as error:
            self._trouble(error)

    async def invalidate(self, scopes: Iterable[str]) -> None:
        await self._bump([f"{self._generation_key}:{scope}" for scope in scopes])

    async def invalidate_all(self) -> None:
        await self._bump([self._generation_key])

    async def _bump(self, generation_keys: list[str]) -> None:
        if self._recovery is not None or not generation_keys:
            return  # the recovery task bumps the global generation before caching resumes
        # Tried while Redis is only suspect too: a write must bump, or open the breaker
        # (whose recovery bumps) if it cannot.
        try:
            if len(generation_keys) == 1:
                await self._within_deadline(self._client.incr(generation_keys[0]))
                return
            async with self._client.pipeline(transaction=False) as pipeline:
                for key in generation_keys:
                    pipeline.incr(key)
                await self._within_deadline(pipeline.execute())
        except _UNAVAILABLE as error:
            self._open(error)

    async def ping(self) -> bool:
        if not self.available:
            return False
        try:
            await self._within_deadline(self._client.ping())
        except _UNAVAILABLE as error:
            self._open(error)
            return False
        return True

    async def close(self) -> None:
        for round_trip in list(self._round_trips):
            round_trip.cancel()
        if self._confirming is not None:
            self._confirming.cancel()
            self._confirming = None
        if self._recovery is not None:
            self._recovery.cancel()
            self._recovery = None
            # A last try at the bump this process owes; if Redis is still down the debt
            # is lost and CACHE_TTL_SECONDS bounds what other processes may serve.
            try:
                await self._within_deadline(self._client.incr(self._generation_key))
            except _UNAVAILABLE:
                _log().warning("redis cache closed while unreachable; generation not bumped")
        await self._client.aclose()

    async def _within_deadline(self, call: Awaitable[T]) -> T:
        # The deadline is kept here rather than as the socket's timeout. A socket timeout
        # fires when its timer comes due even if the reply reached the socket long before
        # and only waited for this event loop, busy with other requests (32 pages being
        # rendered take longer than 50 ms): under load it reported a healthy Redis as
        # down, and sent every read to the database when it could least afford it. Here
        # a reply that has arrived wins over the timer (asyncio.wait), and when the timer
        # itself came due late (the loop, not Redis, was slow) Redis gets another window,
        # a few times at most; then a couple more turns of the loop let a reply still in
        # the socket be read.
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(call)
        try:
            for _ in range(_LATE_WINDOWS):
                due = loop.time() + self._timeout
                await asyncio.wait((task,), timeout=self._timeout)
                if task.done() or loop.time() - due < self._timeout / 2:
                    break
            for _ in range(2):
                if task.done():
                    break
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not task.done():
            task.cancel()  # redis-py drops the connection of an interrupted command
            raise RedisTimeoutError(f"no answer from Redis within {self._timeout * 1000:.0f} ms")
        return task.result()

    def _trouble(self, error: BaseException) -> None:
        """A read or a store failed: a timeout makes Redis suspect, anything else (a
        refused or broken connection) opens the breaker at once."""
        if isinstance(error, RedisTimeoutError):
            self._suspect(error)
        else:
            self._open(error)

    def _suspect(self, error: BaseException) -> None:
        if self._recovery is not None or self._confirming is not None:
            return
        self._confirming = asyncio.get_running_loop().create_task(self._confirm(error))

    async def _confirm(self, first_error: BaseException) -> None:
        try:
            async with asyncio.timeout(max(PROBE_SECONDS, 20 * self._timeout)):
                await self._client.ping()
        except (TimeoutError, *_UNAVAILABLE):
            self._confirming = None
            self._open(first_error)
            return
        self._confirming = None
        _log().debug("a late answer from Redis, which answers again; caching goes on")

    def _open(self, error: BaseException) -> None:
        if self._recovery is not None:
            return
        if self._confirming is not None:
            self._confirming.cancel()
            self._confirming = None
        self.outages += 1
        _log().warning(
            "redis cache unavailable; serving reads from the database until it is back",
            error=f"{type(error).__name__}: {error}",
            retry_seconds=self._retry_seconds,
        )
        self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(self._retry_seconds)
            try:
                # Every pooled connection may be dead (Redis restarted): start afresh.
                await self._client.connection_pool.disconnect()
                generation = await self._within_deadline(self._client.incr(self._generation_key))
            except _UNAVAILABLE:
                continue
            break
        self._recovery = None
        _log().info(
            "redis cache reachable again; generation bumped, caching resumed",
            generation=generation,
            outage_seconds=round(time.monotonic() - started, 1),
        )


def build_read_cache(settings: Settings) -> ReadCache:
    """The cache this process should use: Redis when REDIS_URL is set, else in-process."""
    if settings.redis_url:
        return RedisReadCache.from_url(
            settings.redis_url,
            ttl_seconds=settings.cache_ttl_seconds,
            prefix=settings.cache_key_prefix,
            socket_timeout_ms=settings.cache_socket_timeout_ms,
        )
    if settings.cache_ttl_seconds == 0:
        return NullReadCache()
    return MemoryReadCache(ttl_seconds=settings.cache_ttl_seconds)
