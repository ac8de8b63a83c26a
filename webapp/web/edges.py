"""What HTTP asks of every route, made good around the whole app before Litestar sees the
request: HEAD, OPTIONS' Allow header, and paths no route can hold.

- HEAD is answered like GET without the body (RFC 9110), on every page and /api GET;
  Litestar 2 routes HEAD only for static files.
- OPTIONS: Litestar 2's automatic answer names the methods of the first handler
  registered on the path only (`/api/tasks` said "OPTIONS, POST"); it is rewritten from
  the route's methods.
- A path with a NUL or another control character names no resource: 404, before it
  reaches the static files router (which failed on the NUL with a 500).
"""

from __future__ import annotations

import msgspec
from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from webapp.web.problems import PROBLEM_JSON, Problem

# Set in a HEAD request's state (served as a GET without its body).
HEAD_REQUEST = "head_request"


def _has_control_character(path: str) -> bool:
    return any(ord(character) < 0x20 or ord(character) == 0x7F for character in path)


class HttpEdges:
    """Wraps the app's ASGI handler (see the module docstring)."""

    def __init__(self, app: Litestar, handler: ASGIApp) -> None:
        self.handler = handler
        self.app = app
        self._allowed: dict[str, str] | None = None

    def allowed_methods(self, path_template: str) -> str | None:
        """The Allow header of a route: its methods, HEAD with GET, and OPTIONS."""
        if self._allowed is None:
            allowed = {}
            for route in self.app.routes:
                if isinstance(route, HTTPRoute):
                    methods = set(route.methods) | {"OPTIONS"}
                    if "GET" in methods:
                        methods.add("HEAD")
                    allowed[route.path_format] = ", ".join(sorted(methods))
            self._allowed = allowed
        return self._allowed.get(path_template)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.handler(scope, receive, send)
            return
        if _has_control_character(scope["path"]):
            await _not_found(scope["path"], send)
            return
        method = scope.get("method")
        if method == "HEAD":
            # In place, not on a copy: what the app learns of the request (who sent it)
            # must reach the hooks that see this scope (add_security_headers).
            scope["method"] = "GET"
            # Said in the state too: a route whose answer never ends (a stream) ends it
            # at once for a HEAD, where no body is wanted.
            scope.setdefault("state", {})[HEAD_REQUEST] = True
            try:
                await self.handler(scope, receive, _without_body(send))
            finally:
                scope["method"] = "HEAD"  # for the access line
            return
        if method == "OPTIONS":
            await self.handler(scope, receive, self._with_allow(scope, send))
            return
        await self.handler(scope, receive, send)

    def _with_allow(self, scope: Scope, send: Send) -> Send:
        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start":
                template = scope.get("path_template")
                allowed = self.allowed_methods(template) if isinstance(template, str) else None
                headers = MutableScopeHeaders.from_message(message)
                if allowed is not None and "allow" in headers:
                    headers["allow"] = allowed
            await send(message)

        return rewrite


def _without_body(send: Send) -> Send:
    async def drop_body(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return drop_body


async def _not_found(path: str, send: Send) -> None:
    """404 in the shape of the part of the site asked: problem+json on /api and /docs."""
    if path.split("/")[1] in {"api", "docs"}:
        body = msgspec.json.encode(
            Problem(status=404, title="Not Found", detail="no resource has such a path")
        )
        media_type = PROBLEM_JSON.encode()
    else:
        body, media_type = b"404 Not Found: no such page\n", b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", media_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
