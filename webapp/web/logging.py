"""Logging: structlog, JSON in the cluster and readable text locally; one line a request."""

from __future__ import annotations

import logging
import time
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.logging.config import StructLoggingConfig, default_structlog_processors
from litestar.middleware import ASGIMiddleware
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from webapp.settings import Settings

access_log = structlog.get_logger("webapp.access")


def logging_plugin(settings: Settings) -> StructlogPlugin:
    level = logging.getLevelNamesMapping()[settings.log_level.value]
    as_json = settings.log_format == "json"
    return StructlogPlugin(
        StructlogConfig(
            structlog_logging_config=StructLoggingConfig(
                processors=default_structlog_processors(as_json=as_json),
                wrapper_class=structlog.make_filtering_bound_logger(level),
                # The JSON renderer yields bytes, the console renderer text.
                logger_factory=(
                    structlog.BytesLoggerFactory() if as_json else structlog.PrintLoggerFactory()
                ),
                # 4xx are the client's business; unexpected errors are logged once, by
                # webapp.web.errors, without the request body.
                log_exceptions="never",
                pretty_print_tty=not as_json,
            ),
            # Litestar's request logging writes two lines (request, response) and can
            # include bodies; AccessLogMiddleware writes one line with no body or secret.
            enable_middleware_logging=False,
        )
    )


class AccessLogMiddleware(ASGIMiddleware):
    """One line per HTTP request: method, path, status, duration."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, capture)
        finally:
            fields: dict[str, Any] = {
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            await access_log.ainfo("request", **fields)
