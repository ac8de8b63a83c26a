"""The application factory: settings in, a wired Litestar app out.

Run with `granian --interface asgi --factory webapp.app:create_app` (see `webapp.cli`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.cache import MemoryReadCache, ReadCache
from webapp.db import create_engine, sqlalchemy_config
from webapp.settings import PROJECT_ROOT, Settings, get_settings
from webapp.tasks.api import TaskController, TrashController
from webapp.tasks.service import TaskService
from webapp.web.errors import EXCEPTION_HANDLERS
from webapp.web.health import HealthController
from webapp.web.logging import AccessLogMiddleware, logging_plugin

MAX_BODY_BYTES = 1024 * 1024
STATIC_DIR = PROJECT_ROOT / "static"


def build_read_cache(settings: Settings) -> ReadCache:
    return MemoryReadCache(ttl_seconds=settings.cache_ttl_seconds)


async def provide_task_service(
    db_session: NamedDependency[AsyncSession], state: State
) -> TaskService:
    return TaskService(db_session, state.read_cache)


def openapi_config() -> OpenAPIConfig:
    # Swagger UI's files are served from /static (vendored), never from a CDN.
    swagger = SwaggerRenderPlugin(
        path="/",
        js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        css_url="/static/vendor/swagger-ui/swagger-ui.css",
        standalone_preset_js_url="/static/vendor/swagger-ui/swagger-ui-standalone-preset.js",
    )
    return OpenAPIConfig(
        title="Tasks API",
        version="1.0.0",
        description=(
            "Tasks and the trash. Errors on /api share one shape "
            "(application/problem+json): status, title, detail, errors[field, message]."
        ),
        path="/docs",
        render_plugins=[swagger],
    )


def create_app(settings: Settings | None = None, read_cache: ReadCache | None = None) -> Litestar:
    """Build the app. Tests pass their own settings (and may pass a cache)."""
    settings = settings or get_settings()
    engine = create_engine(settings)
    cache = read_cache or build_read_cache(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.db_engine = engine
        app.state.read_cache = cache
        try:
            yield
        finally:
            await cache.close()

    return Litestar(
        route_handlers=[
            TaskController,
            TrashController,
            HealthController,
            create_static_files_router(path="/static", directories=[STATIC_DIR], name="static"),
        ],
        dependencies={"task_service": Provide(provide_task_service)},
        plugins=[
            SQLAlchemyPlugin(config=sqlalchemy_config(settings, engine)),
            logging_plugin(settings),
        ],
        middleware=[AccessLogMiddleware()],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi_config(),
        request_max_body_size=MAX_BODY_BYTES,
        lifespan=[lifespan],
        state=State({"settings": settings}),
    )
