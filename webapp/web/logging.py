"""The web app's logging: structlog as `webapp.logs` sets it up, and one line a request.

The access log (`AccessLog`) logs synchronously: structlog's `ainfo` hands each line to a
thread pool, which cost 80 to 140 µs of the event loop per request; rendering the line
costs about 15 µs, and `webapp.logs` writes it from a thread of its own.
"""

from __future__ import annotations

import logging
import time

import structlog
from litestar.enums import ScopeType
from litestar.logging.config import LoggingConfig, StructLoggingConfig
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from webapp.logs import logger_factory, processors, stdlib_processors
from webapp.settings import Settings

access_log = structlog.get_logger("webapp.access")


def logging_plugin(settings: Settings) -> StructlogPlugin:
    level = logging.getLevelNamesMapping()[settings.log_level.value]
    return StructlogPlugin(
        StructlogConfig(
            structlog_logging_config=StructLoggingConfig(
                processors=processors(settings),
                standard_lib_logging_config=LoggingConfig(
                    formatters={
                        "standard": {
                            "()": structlog.stdlib.ProcessorFormatter,
                            "processors": stdlib_processors(settings),
                        }
                    }
                ),
                wrapper_class=structlog.make_filtering_bound_logger(level),
                logger_factory=logger_factory,
                # 4xx are the client's business; unexpected errors are logged once, by
                # webapp.web.problems, without the request body.
                log_exceptions="never",
                pretty_print_tty=False,
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
    """One line per HTTP request, whatever answered it: the client's address, method, path,
    status, duration. Behind a trusted reverse proxy (TRUSTED_PROXIES) the address is the
    one the proxy forwarded, not the proxy's own (see `webapp.app`).

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
            client = scope.get("client")
            access_log.info(
                "request",
                client=client[0] if client else None,
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
