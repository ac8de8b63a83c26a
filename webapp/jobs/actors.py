"""Running jobs on a worker: one Dramatiq actor per kind of job, the worker process's own
engine and cache, retries of transient errors, and re-sending lost jobs at boot.

Actors are async (Dramatiq's AsyncIO middleware runs them on the worker process's event
loop) and use that process's own database engine and read cache, made on first use on
that loop and closed when the worker stops: never the web app's, which live on another
loop (in-process mode) or in another process.

Failures: a transient database error (connection lost, deadlock, lock timeout) is raised
again so that Dramatiq's Retries middleware re-delivers the message with exponential
backoff; the job carries on from what it last committed. Any other error, or a
transient one after the last retry, marks the job failed with the reason.

Every worker process sweeps for abandoned jobs (`JobSweeper`, see `webapp.jobs.runner`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import dramatiq
import structlog
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import CurrentMessage, Middleware
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from webapp.cache import ReadCache, build_read_cache
from webapp.db import JOB_STATEMENT_TIMEOUT_SECONDS, create_engine, database_unavailable
from webapp.errors import NotFound
from webapp.events.changes import Feed
from webapp.events.feed import RedisFeed
from webapp.jobs import runner
from webapp.jobs.broker import queue_name
from webapp.jobs.kinds import JobContext, JobKind, JobSender
from webapp.jobs.models import ERROR_MAX_LENGTH
from webapp.settings import Settings

log = structlog.get_logger(__name__)

# A job longer than this is interrupted and re-delivered; it then carries on where it was.
TIME_LIMIT_MS = 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a job is retried after a transient database error.

    The defaults ride out about half a minute of database outage (1, 2, 4, 8, 16 s).
    """

    max_retries: int = 5
    min_backoff_ms: int = 1000
    max_backoff_ms: int = 30_000


def is_transient(error: BaseException) -> bool:
    """Whether trying again later may succeed (the database was unreachable or busy)."""
    return database_unavailable(error) is not None or isinstance(error, OSError)


def failure_reason(error: BaseException) -> str:
    """What a failed job tells its user: the error, without SQL or parameters."""
    detail = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    return f"{type(error).__name__}: {detail}"[:ERROR_MAX_LENGTH]


def publisher(settings: Settings) -> Feed | None:
    """A worker process's feed: it publishes to the app processes' Redis channel (with no
    Redis, the app's in-process worker is handed the app's own feed instead)."""
    return RedisFeed(settings.redis_url, settings.cache_key_prefix) if settings.redis_url else None


class WorkerResources(Middleware):
    """A worker process's engine, read cache and feed of live updates, made on first use
    on the worker's event loop and closed when the worker shuts down (before the AsyncIO
    middleware stops the loop: Dramatiq calls `after_*` hooks in reverse order, and this
    is added after it).

    It also tells the jobs when their worker begins to stop (SIGTERM: Dramatiq lets each
    thread finish its message, which for a job would be all of its batches): a job then
    leaves after the batch in hand, for another worker to carry on."""

    def __init__(
        self,
        settings: Settings,
        cache_factory: Callable[[], ReadCache] | None = None,
        feed_factory: Callable[[], Feed | None] | None = None,
    ) -> None:
        self.settings = settings
        self._cache_factory = cache_factory or (lambda: build_read_cache(settings))
        self._feed_factory = feed_factory or (lambda: publisher(settings))
        self._feed: Feed | None = None
        self._feed_made = False
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._cache: ReadCache | None = None
        self._stopping = threading.Event()

    def stopping(self) -> bool:
        return self._stopping.is_set()

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        self._stopping.clear()  # the in-process worker may start again after a stop

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self._stopping.set()

    @property
    def cache(self) -> ReadCache:
        if self._cache is None:
            self._cache = self._cache_factory()
        return self._cache

    @property
    def feed(self) -> Feed | None:
        """Where the jobs' changes go to reach open pages (None: nowhere)."""
        if not self._feed_made:
            self._feed = self._feed_factory()
            self._feed_made = True
        return self._feed

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        if self._sessions is None:
            # A job holds one connection at a time, and a process runs at most one job per
            # worker thread: a bigger pool would only keep idle connections open.
            pool_size = min(self.settings.db_pool_size, self.settings.worker_threads)
            self._engine = create_engine(
                self.settings.model_copy(update={"db_pool_size": pool_size}),
                statement_timeout=JOB_STATEMENT_TIMEOUT_SECONDS,
            )
            self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def context(self, sender: JobSender | None) -> AsyncIterator[JobContext]:
        """A JobContext on a new session of this process's engine."""
        async with self.session() as session:
            yield JobContext(
                session=session,
                cache=self.cache,
                settings=self.settings,
                sender=sender,
                feed=self.feed,
                stopping=self.stopping,
            )

    async def aclose(self) -> None:
        if self._cache is not None:
            await self._cache.close()
            self._cache = None
        if isinstance(self._feed, RedisFeed):
            await self._feed.close()
        self._feed, self._feed_made = None, False
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = self._sessions = None

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.aclose())


def _attempt() -> int:
    """How many times the current message has been retried already (0 the first time)."""
    message = CurrentMessage.get_current_message()
    return int(message.options.get("retries", 0)) if message is not None else 0


def declare_actor(
    broker: dramatiq.Broker,
    kind: JobKind,
    resources: WorkerResources,
    *,
    sender: JobSender | None = None,
    retry: RetryPolicy | None = None,
) -> dramatiq.Actor[[str], None]:
    """Declare the actor of `kind` on `broker`. The broker needs the AsyncIO and
    CurrentMessage middleware, and `resources` among its middleware."""
    policy = retry or RetryPolicy()

    async def run_job(job_id: str) -> None:
        try:
            job = UUID(job_id)
        except ValueError:
            log.error("job message with a malformed id dropped", kind=kind.name, job_id=job_id)
            return
        try:
            async with resources.context(sender) as context:
                ended = await runner.run(context, kind, job)
            log.info(
                "job delivery ended",
                kind=kind.name,
                job_id=job_id,
                status=ended.status,
                done=ended.done,
                skipped=ended.skipped,
            )
        except NotFound:
            log.warning("job no longer exists; message dropped", kind=kind.name, job_id=job_id)
        except Exception as error:
            attempt = _attempt()
            if is_transient(error) and attempt < policy.max_retries:
                log.warning(
                    "job hit a transient error; Dramatiq will retry it",
                    kind=kind.name,
                    job_id=job_id,
                    attempt=attempt + 1,
                    error=failure_reason(error),
                )
                raise
            log.error("job failed", kind=kind.name, job_id=job_id, error=failure_reason(error))
            # If this fails too (the database is still down), the error propagates, the
            # job stays unfinished, and `requeue` sends it again later.
            async with resources.session() as session:
                await runner.fail(session, job, failure_reason(error))

    return dramatiq.actor(
        actor_name=f"{kind.name}_job",
        queue_name=queue_name(resources.settings, kind.name),
        broker=broker,
        max_retries=policy.max_retries,
        min_backoff=policy.min_backoff_ms,
        max_backoff=policy.max_backoff_ms,
        time_limit=TIME_LIMIT_MS,
    )(run_job)


class JobSweeper(Middleware):
    """In every worker process, from boot to shutdown: a sweep every SWEEP_SECONDS that
    re-sends abandoned jobs (see `webapp.jobs.runner.sweep`). Best effort: a sweep that
    fails (the database is down) is tried again at the next one."""

    def __init__(self, kinds: Sequence[str], resources: WorkerResources, sender: JobSender) -> None:
        self.kinds = list(kinds)
        self.resources = resources
        self.sender = sender
        self._sweeping: concurrent.futures.Future[None] | None = None

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            self._sweeping = asyncio.run_coroutine_threadsafe(self._sweep(), loop_thread.loop)

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()

    async def _sweep(self) -> None:
        while True:
            try:
                async with self.resources.context(self.sender) as context:
                    await runner.sweep(context, self.kinds)
            except Exception as error:
                log.warning("job sweep failed", error=f"{type(error).__name__}: {error}")
            await asyncio.sleep(runner.SWEEP_SECONDS)
