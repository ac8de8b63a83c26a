"""The Idempotency-Key header on POST requests to /api (Stripe's and the IETF draft's
idea; Todoist's X-Request-Id): a client that timed out may send the request again with
the same key and get the first answer, without a second task or job being made.

A transport concern, so a middleware: it sees the raw request (to fingerprint it) and
the raw response (to store and replay it), for every POST route, present and future.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from webapp.idempotency.models import KEY_MAX_LENGTH
from webapp.idempotency.service import (
    AlreadyApplied,
    Attempt,
    IdempotencyService,
    InProgress,
    Mismatch,
    Replay,
    Started,
    fingerprint,
)
from webapp.web.problems import PROBLEM_JSON, FieldError, Problem

HEADER = "idempotency-key"
# Where in the request's state the (caller, key) its database session applies is kept.
APPLIED_BY = "idempotency_key"
# Visible ASCII; an empty header is no key (the route's default, for the document).
KEY_PATTERN = rf"^[!-~]{{0,{KEY_MAX_LENGTH}}}$"
# How POST routes document the header (the middleware, not the route, acts on it).
# A string, not str | None (a "string or null" header was sent as the text "null"); the
# empty default only means "no key" to the document: the middleware reads the header.
IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        pattern=KEY_PATTERN,
        examples=[Example(summary="a UUID", value="5f2b6e0c-8d3a-4f1e-9c7b-2a4d6e8f0a1b")],
        description=(
            "Any unique string (a UUID, say); empty is none. Sent again with the same request "
            "within 24 h, the first answer is returned and nothing is done twice; with "
            "another request, 422."
        ),
    ),
]
API_PREFIX = "/api/"
# Headers of an answer that are not replayed: the server and the hooks set them again.
_NOT_STORED = {b"content-length", b"date", b"set-cookie", b"server"}


def caller_of(scope: Scope) -> str | None:
    """Whose keys these are (each account has a namespace of its own); None for a
    request nobody signed (the guard answers it 401: nothing to remember)."""
    account = getattr(scope.get("user"), "account", None)
    return None if account is None else str(account.id.hex)


def _valid_key(key: str) -> bool:
    return re.fullmatch(KEY_PATTERN, key) is not None


async def _send_problem(
    send: Send, problem: Problem, headers: dict[str, str] | None = None
) -> None:
    body = msgspec.json.encode(problem)
    raw = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": problem.status,
        "headers": raw,
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


class IdempotentPosts(ASGIMiddleware):
    """Replays the answer to a POST to /api sent again with the same Idempotency-Key."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        method = scope.get("method")
        key = Headers.from_scope(scope).get(HEADER)
        caller = caller_of(scope)
        if not key or method != "POST" or not scope["path"].startswith(API_PREFIX) or not caller:
            await next_app(scope, receive, send)
            return
        if not _valid_key(key):
            await _send_problem(
                send,
                Problem(
                    status=400,
                    title="Invalid input",
                    detail=f"Idempotency-Key: at most {KEY_MAX_LENGTH} visible ASCII characters",
                    errors=[FieldError(field="Idempotency-Key", message="is not a valid key")],
                ),
            )
            return
        body = await _read_body(receive)
        request = fingerprint(method, scope["path"], scope.get("query_string", b""), body)
        service = IdempotencyService(scope["app"].state.db_engine)
        outcome = await service.begin(caller, key, request)
        if isinstance(outcome, Replay):
            await _replay(send, outcome)
            return
        if isinstance(outcome, Mismatch):
            await _send_problem(
                send,
                Problem(
                    status=422,
                    title="Unprocessable Content",
                    detail="this Idempotency-Key was used for a different request",
                    errors=[
                        FieldError(field="Idempotency-Key", message="was used for another request")
                    ],
                ),
            )
            return
        if isinstance(outcome, InProgress):
            await _send_problem(
                send,
                Problem(
                    status=409,
                    title="Conflict",
                    detail="a request with this Idempotency-Key is still being answered",
                ),
                {"Retry-After": "1"},
            )
            return
        if isinstance(outcome, AlreadyApplied):
            await _send_problem(
                send,
                Problem(
                    status=409,
                    title="Conflict",
                    detail=(
                        "this request was applied already, but its answer was lost when the "
                        "database failed; it was not applied again"
                    ),
                ),
            )
            return
        assert isinstance(outcome, Started)
        attempt = (caller, key, outcome.attempt)
        # The request's transactions mark the key applied as they commit (mark_applied).
        scope.setdefault("state", {})[APPLIED_BY] = attempt
        await self._first(scope, _replaying(body), send, next_app, service, attempt)

    async def _first(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        next_app: ASGIApp,
        service: IdempotencyService,
        attempt: Attempt,
    ) -> None:
        status = 500
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                service.release(attempt)

        async def record(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
                    for name, value in message.get("headers", [])
                    if bytes(name).lower() not in _NOT_STORED
                ]
                if status >= 500:
                    # Before the client can read the answer: a retry it sends at once
                    # must find the key released (or being released), not in progress.
                    release()
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        try:
            await next_app(scope, receive, record)
        except BaseException:
            release()
            raise
        if status >= 500:
            release()
        else:
            await service.complete(attempt, status, headers, b"".join(chunks))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message["body"])
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes) -> Receive:
    """A `receive` that gives the app the body already read, then waits like a client."""
    sent = False

    async def receive() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _replay(send: Send, replay: Replay) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in replay.headers]
    headers += [
        (b"content-length", str(len(replay.body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": replay.status_code,
        "headers": headers,
    }
    await send(start)
    await send({"type": "http.response.body", "body": replay.body, "more_body": False})
