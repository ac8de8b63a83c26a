"""A deadline for each request's work, so that a stalled dependency costs a prompt 503.

Each statement has its own deadline (DB_STATEMENT_TIMEOUT_SECONDS) and so has waiting for
a pooled connection (DB_POOL_TIMEOUT_SECONDS), but a request may meet several of them in
a row against a stalled database (the pool's liveness ping, a reconnect, the query) and
keep its client waiting past any client's patience. The request as a whole gets their
sum; past it the work is cancelled (SQLAlchemy throws away a connection cancelled in
use) and the answer is the usual 503 with Retry-After (webapp.web.problems).

Routes that stream for as long as their client wants (live updates, downloads) opt out
with `opt={"no_deadline": True}`.
"""

from __future__ import annotations

import asyncio

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

EXEMPT_OPT_KEY = "no_deadline"


class RequestDeadline(ASGIMiddleware):
    """Cancels a request's handling after `seconds`; TimeoutError is answered 503."""

    scopes = (ScopeType.HTTP,)
    exclude_opt_key = EXEMPT_OPT_KEY

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async with asyncio.timeout(self.seconds):
            await next_app(scope, receive, send)
