"""The application factory: settings in, a wired Litestar app out.

Run with `granian --interface asgi --factory webapp.app:create_app` (see `webapp.cli`).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from granian.utils.proxies import wrap_asgi_with_proxy_headers
from litestar import Litestar
from litestar.datastructures import State
from litestar.plugins.htmx import HTMXPlugin
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.types import ASGIApp
from redis.asyncio import Redis

from webapp.accounts.admin import AdminPages
from webapp.accounts.api import MeController
from webapp.accounts.auth import (
    Authentication,
    Authenticator,
    NotSignedIn,
    not_signed_in,
    require_signed_in,
)
from webapp.accounts.deps import CALLER
from webapp.accounts.entry import AccountEntry
from webapp.accounts.invite_pages import InvitePages
from webapp.accounts.pages import AccountPages
from webapp.accounts.rate_limit import RATE_LIMIT_STORE, api_rate_limit
from webapp.accounts.sessions import SESSION_STORE, local_session_store, session_config
from webapp.accounts.throttle import LoginThrottle, MemoryAttemptCounts, RedisAttemptCounts
from webapp.cache import ReadCache, build_read_cache
from webapp.db import create_engine, sqlalchemy_config
from webapp.events.changes import Changes
from webapp.events.feed import RedisFeed, build_feed
from webapp.events.origin import PageOrigin
from webapp.events.stream import LiveEvents
from webapp.idempotency.middleware import IdempotentPosts
from webapp.jobs.queue import JobQueue
from webapp.lists.api import ListController
from webapp.lists.pages import ListPages
from webapp.portability.routes import ROUTE_HANDLERS as PORTABILITY_ROUTES
from webapp.restore.api import RestoreJobController
from webapp.restore.pages import RestorePages
from webapp.settings import PROJECT_ROOT, Settings, get_settings
from webapp.tasks.api import TaskController, TrashController
from webapp.tasks.pages import TaskPages
from webapp.tasks.trash_pages import TrashPages
from webapp.web.deadline import RequestDeadline
from webapp.web.edges import HttpEdges
from webapp.web.health import HealthController
from webapp.web.logging import AccessLog, logging_plugin
from webapp.web.openapi import StrictStructSchemas, openapi_config
from webapp.web.problems import EXCEPTION_HANDLERS, LastResort
from webapp.web.security import PUBLIC, CrossSiteApiGuard, add_security_headers, csrf_config
from webapp.web.templating import template_config
from webapp.worker import JOB_KINDS

MAX_BODY_BYTES = 1024 * 1024
# Sessions, rate limits and log-in throttling wait this long for Redis, then answer 503.
REDIS_TIMEOUT_SECONDS = 2.0
STATIC_DIR = PROJECT_ROOT / "static"


def shared_state(settings: Settings) -> tuple[Redis | None, dict[str, Store], LoginThrottle]:
    """What every replica must share about signed-in people: sessions, API rate limits
    and failed log-ins. In Redis when REDIS_URL is set, else in this process (sessions
    in files, so that a restart logs nobody out)."""
    if not settings.redis_url:
        stores: dict[str, Store] = {
            SESSION_STORE: local_session_store(settings),
            RATE_LIMIT_STORE: MemoryStore(),
        }
        return None, stores, LoginThrottle(MemoryAttemptCounts())
    client = Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    prefix = settings.cache_key_prefix
    stores = {
        SESSION_STORE: RedisStore(client, namespace=f"{prefix}session"),
        RATE_LIMIT_STORE: RedisStore(client, namespace=f"{prefix}rate-limit"),
    }
    return client, stores, LoginThrottle(RedisAttemptCounts(client, prefix))


def create_app(settings: Settings | None = None, read_cache: ReadCache | None = None) -> Litestar:
    """Build the app. Tests pass their own settings (and may pass a cache)."""
    settings = settings or get_settings()
    engine = create_engine(settings)
    cache = read_cache or build_read_cache(settings)
    db_config = sqlalchemy_config(settings, engine)
    feed = build_feed(settings.redis_url, settings.cache_key_prefix)
    job_queue = JobQueue(settings, JOB_KINDS, app_cache=cache, app_feed=feed)
    redis, stores, login_throttle = shared_state(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.db_engine = engine
        app.state.read_cache = cache
        app.state.changes = Changes(cache, feed)
        app.state.live_updates = feed.local if isinstance(feed, RedisFeed) else feed
        await feed.start()
        app.state.job_queue = job_queue
        app.state.broker_status = job_queue.status
        job_queue.bind_app_loop(asyncio.get_running_loop())
        await job_queue.resume_unfinished(engine)
        # In the local mode the app is the worker, so it sweeps for abandoned jobs too.
        sweeping = (
            asyncio.create_task(job_queue.sweep_forever(engine, cache))
            if job_queue.in_process
            else None
        )
        # What exists now (modules, routes, templates, SQLAlchemy's metadata) lives as long
        # as the process. Frozen, the cycle collector stops walking it on every full
        # collection, which otherwise stalls a busy worker for ~100 ms (the p99 of the
        # benchmark); see docs/benchmarks.md.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            # First: every live-update stream ends now, so that the server is not kept
            # waiting for them (browsers reconnect, to another replica).
            await feed.close()
            if sweeping is not None:
                sweeping.cancel()
            await job_queue.close()
            await cache.close()
            if redis is not None:
                await redis.aclose()
            # This factory made the engine, so it closes it. advanced-alchemy's plugin only
            # does so for the first app of a process (its state keys get a suffix after
            # that), and every later app (each test's) would keep its connections open.
            await engine.dispose()

    app = Litestar(
        route_handlers=[
            AccountEntry,
            AccountPages,
            InvitePages,
            AdminPages,
            MeController,
            TaskController,
            TrashController,
            ListController,
            ListPages,
            RestoreJobController,
            TaskPages,
            TrashPages,
            RestorePages,
            *PORTABILITY_ROUTES,
            LiveEvents,
            HealthController,
            create_static_files_router(
                path="/static", directories=[STATIC_DIR], name="static", opt=PUBLIC
            ),
        ],
        plugins=[
            SQLAlchemyPlugin(config=db_config),
            logging_plugin(settings),
            HTMXPlugin(),
            StrictStructSchemas(),
        ],
        middleware=[
            # Outermost of these: the session store's and authentication's work, and
            # IdempotentPosts' own database work, are bounded too.
            RequestDeadline(
                settings.db_statement_timeout_seconds + settings.db_pool_timeout_seconds
            ),
            session_config(settings).middleware,
            Authentication(),
            CrossSiteApiGuard(),
            *([api_rate_limit(settings.api_rate_limit)] if settings.api_rate_limit else []),
            IdempotentPosts(),
            PageOrigin(),
        ],
        guards=[require_signed_in],
        dependencies=CALLER,
        stores=stores,
        before_send=[add_security_headers],
        csrf_config=csrf_config(settings.effective_secret_key(), secure=settings.cookie_secure),
        template_config=template_config(),
        exception_handlers={**EXCEPTION_HANDLERS, NotSignedIn: not_signed_in},
        openapi_config=openapi_config(),
        request_max_body_size=MAX_BODY_BYTES,
        lifespan=[lifespan],
        state=State(
            {
                "settings": settings,
                "db_config": db_config,
                "authenticator": Authenticator(engine),
                "login_throttle": login_throttle,
            }
        ),
    )
    # Outermost: every request gets its access line, and an error that escapes the app
    # still gets a problem+json answer (see LastResort); then HEAD, OPTIONS and unusable
    # paths are made good (see HttpEdges).
    handler: ASGIApp = AccessLog(LastResort(HttpEdges(app, app.asgi_handler)))
    if settings.trusted_proxies:
        # Around everything, the access log included: a request that a trusted reverse
        # proxy passes on is taken to come from the client its X-Forwarded-For names, by
        # the scheme its X-Forwarded-Proto says. Any other peer's forwarded headers are
        # ignored (Granian's wrapper; its README, "Proxies and forwarded headers").
        handler = cast(
            ASGIApp,
            wrap_asgi_with_proxy_headers(
                handler, trusted_hosts=settings.trusted_proxies.split(",")
            ),
        )
    app.asgi_handler = handler
    return app
