"""The job queue: sends jobs to the workers, and in the local mode is the worker too.

- BROKER_URL `amqp://` (RabbitMQ, the cluster) or `redis://`: the app only sends; worker
  processes started by `python -m webapp worker` (see `webapp.worker`) run the jobs.
  Messages are persistent and acknowledged after the job, so a worker that dies mid-job
  has its message delivered again.
- empty (the local default): a StubBroker and a Dramatiq Worker (threads) inside the app
  process, started with the first job. Its messages live in memory, so at start the app
  sends every unfinished job again (see `resume_unfinished`).

Tests use the StubBroker too, with or without the in-process worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import dramatiq
import structlog
from dramatiq.brokers.stub import StubBroker
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from webapp.cache import Lookup, NullReadCache, ReadCache
from webapp.events.changes import Feed
from webapp.events.feed import OwnerLoopFeed
from webapp.jobs import runner
from webapp.jobs.actors import RetryPolicy, WorkerResources, declare_actor
from webapp.jobs.broker import build_broker
from webapp.jobs.kinds import JobContext, JobKind
from webapp.settings import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")

# How often the in-process worker's idle threads wake up (and so how long stopping takes).
IN_PROCESS_POLL_MS = 100
# How long the app waits, when it stops, for an in-process job to finish its batches.
IN_PROCESS_STOP_MS = 10_000
BROKER_CHECK_SECONDS = 1.0
SEND_TIMEOUT_SECONDS = 5.0
_DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671, "redis": 6379, "rediss": 6379}


class OwnerLoopCache:
    """The app's read cache, for the in-process worker, whose actors run on another event
    loop: every call runs on the loop that owns the cache (a Redis connection, like the
    memory cache the app reads, belongs to that loop)."""

    def __init__(self, cache: ReadCache, loop: asyncio.AbstractEventLoop) -> None:
        self._cache = cache
        self._loop = loop

    async def _on_owner(self, call: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, self._loop))

    async def fetch(self, scope: str, key: str) -> Lookup:
        return await self._on_owner(self._cache.fetch(scope, key))

    async def store(self, scope: str, key: str, generation: str | None, value: bytes) -> None:
        await self._on_owner(self._cache.store(scope, key, generation, value))

    async def invalidate(self, scopes: Iterable[str]) -> None:
        await self._on_owner(self._cache.invalidate(list(scopes)))

    async def invalidate_all(self) -> None:
        await self._on_owner(self._cache.invalidate_all())

    async def ping(self) -> bool:
        return await self._on_owner(self._cache.ping())

    async def close(self) -> None:
        return None  # the app closes its cache itself


class JobQueue:
    """Sends jobs of the given kinds to the workers, and in the local mode is the worker."""

    def __init__(
        self,
        settings: Settings,
        kinds: Sequence[JobKind],
        *,
        broker: dramatiq.Broker | None = None,
        app_cache: ReadCache | None = None,
        app_feed: Feed | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """`app_cache`: the app's read cache; given, a StubBroker's jobs run in an
        in-process worker started with the first job (the app's local mode). Without it
        nothing runs them until a test starts `dramatiq.Worker` itself. `app_feed`: the
        app's feed of live updates, which the in-process worker's jobs publish to."""
        self.settings = settings
        self.kinds = {kind.name: kind for kind in kinds}
        self.broker = broker or build_broker(settings)
        self.in_process = isinstance(self.broker, StubBroker)
        self._app_cache = app_cache
        self._app_feed = app_feed
        self._app_loop: asyncio.AbstractEventLoop | None = None
        self.resources = WorkerResources(
            settings,
            self._worker_cache if app_cache else None,
            self._worker_feed if app_cache and app_feed else None,
        )
        self.broker.add_middleware(self.resources)
        self.actors = {
            kind.name: declare_actor(self.broker, kind, self.resources, sender=self, retry=retry)
            for kind in kinds
        }
        self.worker: dramatiq.Worker | None = None

    def _worker_cache(self) -> ReadCache:
        assert self._app_cache is not None
        assert self._app_loop is not None
        return OwnerLoopCache(self._app_cache, self._app_loop)

    def _worker_feed(self) -> Feed:
        assert self._app_feed is not None
        assert self._app_loop is not None
        return OwnerLoopFeed(self._app_feed, self._app_loop)

    # ----------------------------------------------------------------- sending

    async def send(self, kind: str, job_id: UUID) -> None:
        """Send a job's message. Blocking broker clients run in a thread, for at most
        SEND_TIMEOUT_SECONDS: a stalled broker must not stall the request (the job is
        committed; if its message does not arrive, a sweep sends it again)."""
        actor = self.actors[kind]
        if self.in_process:
            if self._app_cache is not None:
                self.start_worker()
            actor.send(str(job_id))
            return
        await asyncio.wait_for(asyncio.to_thread(actor.send, str(job_id)), SEND_TIMEOUT_SECONDS)

    async def status(self) -> str:
        """For /ready: "ok" when the broker accepts a connection, else "down"."""
        if self.in_process:
            return "ok"
        # A TCP connection, not an AMQP or Redis handshake: cheap enough for a probe
        # every few seconds, without a login line in the broker's log each time.
        parts = urlsplit(self.settings.broker_url)
        host = parts.hostname or "localhost"
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 5672)
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), BROKER_CHECK_SECONDS
            )
        except (OSError, TimeoutError):
            return "down"
        writer.close()
        await writer.wait_closed()
        return "ok"

    # ----------------------------------------------------------------- in-process worker

    def bind_app_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the app (and its read cache) runs on."""
        self._app_loop = loop

    def start_worker(self) -> None:
        """Start the in-process worker (threads), if it is not running yet."""
        if self.worker is None:
            self.worker = dramatiq.Worker(
                self.broker,
                worker_threads=self.settings.worker_threads,
                worker_timeout=IN_PROCESS_POLL_MS,
            )
            self.worker.start()

    async def resume_unfinished(self, engine: AsyncEngine) -> list[UUID]:
        """In-process mode: send again the jobs a previous run of the app left unfinished
        (their messages were in its memory, their leases held by its dead worker). Never
        fails the app's start."""
        if not self.in_process:
            return []
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                context = JobContext(session, NullReadCache(), self.settings, self)
                return await runner.sweep(context, self.kinds, everything=True)
        except Exception as error:
            log.warning("unfinished jobs not resumed", error=f"{type(error).__name__}: {error}")
            return []

    async def sweep_forever(self, engine: AsyncEngine, cache: ReadCache) -> None:
        """In-process mode: the sweep a worker process runs (see `webapp.jobs.runner`),
        on the app's loop, until cancelled."""
        while True:
            await asyncio.sleep(runner.SWEEP_SECONDS)
            try:
                async with AsyncSession(engine, expire_on_commit=False) as session:
                    await runner.sweep(JobContext(session, cache, self.settings, self), self.kinds)
            except Exception as error:
                log.warning("job sweep failed", error=f"{type(error).__name__}: {error}")

    async def close(self) -> None:
        """Stop the in-process worker (waiting a little for a running batch) and the broker."""
        if self.worker is not None:
            worker, self.worker = self.worker, None
            await asyncio.to_thread(worker.stop, IN_PROCESS_STOP_MS)
        await asyncio.to_thread(self.broker.close)
