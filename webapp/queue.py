"""The job queue: the Dramatiq broker BROKER_URL chooses, and where restore jobs run.

- `amqp://` (RabbitMQ, the cluster) or `redis://`: the app only sends; worker processes
  started by `python -m webapp worker` (the `dramatiq` CLI on `configure_worker_broker`)
  run the jobs. Messages are persistent and acknowledged after the job, so a worker that
  dies mid-job has its message delivered again.
- empty (the local default): a StubBroker and a Dramatiq Worker (threads) inside the app
  process, started with the first job. Its messages live in memory, so at start the app
  sends every unfinished job again (see `resume_unfinished`).

Tests use the StubBroker too, with or without the in-process worker.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import dramatiq
import structlog
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, CurrentMessage, Middleware
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from webapp.cache import Lookup, NullReadCache, ReadCache
from webapp.restore.actors import RetryPolicy, WorkerResources, declare_restore_actor
from webapp.restore.service import RestoreJobService
from webapp.settings import Settings, get_settings

log = structlog.get_logger(__name__)

T = TypeVar("T")

# A job whose row has not changed for this long is presumed to have lost its message.
REQUEUE_AFTER = datetime.timedelta(seconds=60)
# How often the in-process worker's idle threads wake up (and so how long stopping takes).
IN_PROCESS_POLL_MS = 100
# How long the app waits, when it stops, for an in-process job to finish its batches.
IN_PROCESS_STOP_MS = 10_000
BROKER_CHECK_SECONDS = 1.0
_DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671, "redis": 6379, "rediss": 6379}


def build_broker(settings: Settings) -> dramatiq.Broker:
    """The broker for BROKER_URL, with the middleware the restore actor needs."""
    url = settings.broker_url
    scheme = urlsplit(url).scheme
    broker: dramatiq.Broker
    if scheme in ("amqp", "amqps"):
        # Publisher confirms: `send` returns once RabbitMQ has the message.
        broker = RabbitmqBroker(url=url, confirm_delivery=True)
    elif scheme in ("redis", "rediss"):
        broker = RedisBroker(url=url)  # type: ignore[no-untyped-call]
    else:
        broker = StubBroker()
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    return broker


class OwnerLoopCache:
    """The app's read cache, for the in-process worker, whose actor runs on another event
    loop: every call runs on the loop that owns the cache (a Redis connection, like the
    memory cache the app reads, belongs to that loop)."""

    def __init__(self, cache: ReadCache, loop: asyncio.AbstractEventLoop) -> None:
        self._cache = cache
        self._loop = loop

    async def _on_owner(self, call: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, self._loop))

    async def fetch(self, key: str) -> Lookup:
        return await self._on_owner(self._cache.fetch(key))

    async def store(self, key: str, generation: int, value: bytes) -> None:
        await self._on_owner(self._cache.store(key, generation, value))

    async def invalidate(self) -> None:
        await self._on_owner(self._cache.invalidate())

    async def ping(self) -> bool:
        return await self._on_owner(self._cache.ping())

    async def close(self) -> None:
        return None  # the app closes its cache itself


class JobQueue:
    """Sends restore jobs to the workers, and in the local mode is the worker too."""

    def __init__(
        self,
        settings: Settings,
        *,
        broker: dramatiq.Broker | None = None,
        app_cache: ReadCache | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """`app_cache`: the app's read cache; given, a StubBroker's jobs run in an
        in-process worker started with the first job (the app's local mode). Without it
        nothing runs them until a test starts `dramatiq.Worker` itself."""
        self.settings = settings
        self.broker = broker or build_broker(settings)
        self.in_process = isinstance(self.broker, StubBroker)
        self._app_cache = app_cache
        self._app_loop: asyncio.AbstractEventLoop | None = None
        self.resources = WorkerResources(settings, self._worker_cache if app_cache else None)
        self.broker.add_middleware(self.resources)
        self.restore_actor = declare_restore_actor(
            self.broker, settings, self.resources, sender=self, retry=retry
        )
        self.worker: dramatiq.Worker | None = None

    def _worker_cache(self) -> ReadCache:
        assert self._app_cache is not None
        assert self._app_loop is not None
        return OwnerLoopCache(self._app_cache, self._app_loop)

    # ----------------------------------------------------------------- sending

    async def send_restore(self, job_id: UUID) -> None:
        """Send the job's message (blocking broker clients run in a thread)."""
        if self.in_process:
            if self._app_cache is not None:
                self.start_worker()
            self.restore_actor.send(str(job_id))
            return
        await asyncio.to_thread(self.restore_actor.send, str(job_id))

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
        (their messages were in its memory). Never fails the app's start."""
        if not self.in_process:
            return []
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                service = RestoreJobService(session, NullReadCache(), self)
                resumed = await service.requeue(older_than=datetime.timedelta(0))
        except Exception as error:
            log.warning(
                "unfinished restore jobs not resumed", error=f"{type(error).__name__}: {error}"
            )
            return []
        if resumed:
            log.info("resumed unfinished restore jobs", count=len(resumed))
        return resumed

    async def close(self) -> None:
        """Stop the in-process worker (waiting a little for a running batch) and the broker."""
        if self.worker is not None:
            worker, self.worker = self.worker, None
            await asyncio.to_thread(worker.stop, IN_PROCESS_STOP_MS)
        await asyncio.to_thread(self.broker.close)


def configure_worker_logging(settings: Settings) -> None:
    """The worker's own log lines at LOG_LEVEL, as JSON or text like the app's (LOG_FORMAT).
    Dramatiq's lines keep the format its CLI gives them."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.log_level.value]
        ),
        cache_logger_on_first_use=True,
    )


def configure_worker_broker() -> None:
    """`dramatiq webapp.queue:configure_worker_broker`: builds the broker of one worker
    process from the settings and declares the restore actor on it. Each process that
    Dramatiq starts calls it, so each has its own broker connection, engine and cache."""
    settings = get_settings()
    configure_worker_logging(settings)
    queue = JobQueue(settings)
    queue.broker.add_middleware(RequeueOnBoot(queue))
    dramatiq.set_broker(queue.broker)


class RequeueOnBoot(Middleware):
    """When a worker process starts, it re-sends jobs left unfinished and untouched for
    REQUEUE_AFTER: their message was lost (see RestoreJobService.requeue). Best effort."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self._requeue())

    async def _requeue(self) -> None:
        try:
            async with self.queue.resources.session() as session:
                service = RestoreJobService(session, self.queue.resources.cache, self.queue)
                resent = await service.requeue(older_than=REQUEUE_AFTER)
        except Exception as error:
            log.warning(
                "stale restore jobs not re-sent at boot", error=f"{type(error).__name__}: {error}"
            )
            return
        if resent:
            log.info("re-sent stale restore jobs", count=len(resent))
