"""Logging: structlog, JSON in the cluster and readable text locally; one line a request."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import structlog
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.logging.config import StructLoggingConfig, default_structlog_processors
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from webapp.settings import Settings

access_log = structlog.get_logger("webapp.access")


def logging_plugin(settings: Settings) -> StructlogPlugin:
    level = logging.getLevelNamesMapping()[settings.log_level.value]
    as_json = settings.log_format == "json"
    processors = default_structlog_processors(as_json=as_json)
    if not as_json and not sys.stdout.isatty():
        # Colour codes help a terminal; in a file or a pipe (make run-locally > log) they
        # are noise.
        processors[-1] = structlog.dev.ConsoleRenderer(colors=False)
    return StructlogPlugin(
        StructlogConfig(
            structlog_logging_config=StructLoggingConfig(
                processors=processors,
                wrapper_class=structlog.make_filtering_bound_logger(level),
                # The JSON renderer yields bytes, the console renderer text.
                logger_factory=(
                    structlog.BytesLoggerFactory() if as_json else structlog.PrintLoggerFactory()
                ),
                # 4xx are the client's business; unexpected errors are logged once, by
                # webapp.web.problems, without the request body.
                log_exceptions="never",
                pretty_print_tty=not as_json,
                # Cached loggers keep the configuration of the first app that used them: a
                # second app in the process (tests) would log with the first one's format
                # and level. Binding per call costs microseconds.
                cache_logger_on_first_use=False,
            ),
            # Litestar's request logging writes two lines (request, response) and can
            # include bodies; AccessLog writes one line with no body or secret.
            enable_middleware_logging=False,
        )
    )


class AccessLog:
    """One line per HTTP request, whatever answered it: method, path, status, duration.

    It wraps the app's whole ASGI handler rather than being route middleware: Litestar
    runs middleware only for a matched route, so a 404 for an unknown path or a 405 (what
    scanners mostly get) would otherwise leave no line.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            # The path only: a query string may carry what the user searched for.
            fields: dict[str, Any] = {
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            await access_log.ainfo("request", **fields)


def log_every_request(app: Litestar) -> Litestar:
    """Put the access log around everything `app` answers (see AccessLog)."""
    app.asgi_handler = AccessLog(app.asgi_handler)
    return app
