"""Which open page a change came from. Each page's htmx requests name it (the
`X-Page-Id` header, a random id app.js makes per page); the change a request publishes
carries it to the streams, and that page leaves its own changes alone: the answer to its
request already showed them (a re-read racing that answer would show a new row twice,
and take the focus from where the answer put it)."""

from __future__ import annotations

import re
from contextvars import ContextVar

from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

HEADER = "x-page-id"
_VALID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# The page the current request came from ("" for none, or a program).
ORIGIN: ContextVar[str] = ContextVar("origin", default="")


class PageOrigin(ASGIMiddleware):
    """Sets ORIGIN for the request from its X-Page-Id header (ignored unless well formed)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        value = Headers.from_scope(scope).get(HEADER, "")
        token = ORIGIN.set(value if _VALID.fullmatch(value) else "")
        try:
            await next_app(scope, receive, send)
        finally:
            ORIGIN.reset(token)
