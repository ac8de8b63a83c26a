"""One JSON error shape for every 4xx/5xx on `/api` (RFC 9457 problem details).

    {"status": 404, "title": "Not Found", "detail": "...", "errors": [{"field": ..., "message": ...}]}

HTML routes get a small page instead; forms handle their own validation errors.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_412_PRECONDITION_FAILED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send
from redis.exceptions import RedisError

from webapp.db import database_unavailable
from webapp.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    StaleVersion,
    TooManyAttempts,
    Unprocessable,
)

log = structlog.get_logger(__name__)

_UNKNOWN_FIELD = re.compile(r"unknown field `(?P<field>[^`]+)`")
_MISSING_FIELD = re.compile(r"missing required field `(?P<field>[^`]+)`")
# msgspec's wording of a broken constraint, and ours (without its regular expression).
_CONSTRAINTS = (
    (re.compile(r"Expected `str` of length >= 1\b"), "must not be empty"),
    (re.compile(r"Expected `str` of length <= (?P<n>\d+)"), "must be at most {n} characters"),
    (re.compile(r"Expected `str` matching regex"), "{pattern}"),
    (re.compile(r"Expected `array` of length >= (?P<n>\d+)"), "must hold at least {n} items"),
    (re.compile(r"Expected `array` of length <= (?P<n>\d+)"), "must hold at most {n} items"),
)

PROBLEM_JSON = "application/problem+json"


class FieldError(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """The body of every error response on /api."""

    status: int
    title: str
    detail: str
    errors: list[FieldError] = msgspec.field(default_factory=list)
    current_version: int | None = None


_STALE = "version 1 is stale; the task is at version 2"
_DOCUMENTED: dict[int, tuple[str, Problem]] = {
    HTTP_400_BAD_REQUEST: (
        "Invalid input: `errors` names each bad field (or query parameter).",
        Problem(
            status=400,
            title="Invalid input",
            detail="title: must not be empty",
            errors=[FieldError(field="title", message="must not be empty")],
        ),
    ),
    HTTP_404_NOT_FOUND: (
        "No such task or list here: an unknown or malformed id, one that is not yours nor "
        "shared with you, a purged task, or a task in the trash on a route for live tasks.",
        Problem(
            status=404,
            title="Not Found",
            detail="task 01938c5e-8a4b-7c2d-9e0f-123456789abc is in the trash",
        ),
    ),
    HTTP_401_UNAUTHORIZED: (
        "No valid token: send `Authorization: Bearer <token>` with a personal API token "
        "(made on the account page). A revoked token, or one of a disabled or deleted "
        "account, stops working within 5 seconds.",
        Problem(
            status=401,
            title="Unauthorized",
            detail="log in (pages) or send Authorization: Bearer <token> (/api)",
        ),
    ),
    HTTP_403_FORBIDDEN: (
        "You may see this list but not change it: it is shared with you as a viewer, or "
        "only its owner may do this (rename, delete, share).",
        Problem(
            status=403,
            title="Forbidden",
            detail="you are a viewer of this list: ask its owner to make you an editor",
        ),
    ),
    HTTP_409_CONFLICT: (
        "The task's state refuses the request: a stale `version` in the body, or a purge "
        "of a task that is not in the trash. Or a request with the same `Idempotency-Key` "
        "is still being answered: send it again after `Retry-After` seconds.",
        Problem(status=409, title="Conflict", detail=_STALE, current_version=2),
    ),
    HTTP_422_UNPROCESSABLE_ENTITY: (
        "The `Idempotency-Key` was used before for a different request; or (sharing a "
        "list) the email names no account here.",
        Problem(
            status=422,
            title="Unprocessable Content",
            detail="this Idempotency-Key was used for a different request",
            errors=[FieldError(field="Idempotency-Key", message="was used for another request")],
        ),
    ),
    HTTP_503_SERVICE_UNAVAILABLE: (
        "The database did not answer in time: send the request again after `Retry-After` "
        "seconds.",
        Problem(
            status=503,
            title="Service Unavailable",
            detail="the database is not answering; try again shortly",
        ),
    ),
    HTTP_429_TOO_MANY_REQUESTS: (
        "This token made more requests in the last minute than API_RATE_LIMIT allows: "
        "send it again after `Retry-After` seconds.",
        Problem(status=429, title="Too Many Requests", detail="Too Many Requests"),
    ),
    HTTP_412_PRECONDITION_FAILED: (
        "The `If-Match` version is stale: reload the task and try again.",
        Problem(status=412, title="Precondition Failed", detail=_STALE, current_version=2),
    ),
    HTTP_413_REQUEST_ENTITY_TOO_LARGE: (
        "The body is over 1 MiB.",
        Problem(status=413, title=HTTPStatus(413).phrase, detail="Request Entity Too Large"),
    ),
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the errors a route of /api answers, each in the one problem
    shape. Every such route may answer 401 (no valid token), 429 (over API_RATE_LIMIT)
    and 503 (its database did not answer in time)."""
    responses = {}
    every = (HTTP_401_UNAUTHORIZED, HTTP_429_TOO_MANY_REQUESTS, HTTP_503_SERVICE_UNAVAILABLE)
    for status in (*statuses, *every):
        description, example = _DOCUMENTED[status]
        responses[status] = ResponseSpec(
            data_container=Problem,
            description=description,
            media_type=PROBLEM_JSON,
            generate_examples=False,
            examples=[Example(summary=example.title, value=msgspec.to_builtins(example))],
        )
    return responses


# What a value that does not match its field's pattern (in the API document) breaks.
_PATTERN_MESSAGES = {
    "title": "must show something, and hold no control character",
    "notes": "must hold no control character but line breaks and tabs",
    "If-Match": 'must be an ETag of this API, e.g. "3"',
    "Idempotency-Key": "must be at most 255 visible ASCII characters",
}


def _field_errors(extra: Any) -> list[FieldError]:
    """Litestar's validation details, as field name + message."""
    errors = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            message = str(item.get("message", "is invalid"))
            field = str(item.get("key") or item.get("source") or "body")
            if item.get("source") == "header":
                # A header by its name (if_match is the parameter, If-Match the header).
                field = "-".join(part.capitalize() for part in field.split("_"))
            # msgspec reports these on the enclosing object; the client wants the field.
            if unknown := _UNKNOWN_FIELD.search(message):
                field, message = unknown["field"], "is not a known field"
            elif missing := _MISSING_FIELD.search(message):
                field, message = missing["field"], "is required"
            elif field == "data" and item.get("source") == "body":
                field = "body"  # the body as a whole (e.g. an array instead of an object)
            else:
                for constraint, ours in _CONSTRAINTS:
                    if broken := constraint.search(message):
                        pattern = _PATTERN_MESSAGES.get(field, "is not in the form this API takes")
                        message = ours.format(pattern=pattern, **broken.groupdict())
                        break
            errors.append(FieldError(field=field, message=message))
    return errors


# How long a client should wait before trying again after a 503.
RETRY_AFTER_SECONDS = 2
UNAVAILABLE = Problem(
    status=HTTP_503_SERVICE_UNAVAILABLE,
    title="Service Unavailable",
    detail="the database is not answering; try again shortly",
)
# Past the request's deadline: the database, mostly, but a client that never sends the
# body it announced ends here too.
TOO_SLOW = Problem(
    status=HTTP_503_SERVICE_UNAVAILABLE,
    title="Service Unavailable",
    detail="the request could not be answered in time; try again shortly",
)
SESSIONS_UNAVAILABLE = Problem(
    status=HTTP_503_SERVICE_UNAVAILABLE,
    title="Service Unavailable",
    detail="the session store is not answering; try again shortly",
)
INTERNAL_ERROR = Problem(
    status=HTTP_500_INTERNAL_SERVER_ERROR,
    title="Internal Server Error",
    detail="something went wrong on our side; it has been logged",
)


def problem_for(request: Request[Any, Any, Any], exc: Exception) -> Problem:
    if isinstance(exc, InvalidInput):
        unprocessable = isinstance(exc, Unprocessable)
        return Problem(
            status=HTTP_422_UNPROCESSABLE_ENTITY if unprocessable else HTTP_400_BAD_REQUEST,
            title="Unprocessable Content" if unprocessable else "Invalid input",
            detail=exc.detail,
            errors=[FieldError(field=f, message=m) for f, m in exc.pairs()],
        )
    if isinstance(exc, StaleVersion):
        # A version sent as If-Match is a precondition (412); one sent in the body is a
        # conflict with the stored state (409).
        status = HTTP_412_PRECONDITION_FAILED if exc.precondition else HTTP_409_CONFLICT
        return Problem(
            status=status,
            title=HTTPStatus(status).phrase,
            detail=exc.detail,
            current_version=exc.current_version,
        )
    if isinstance(exc, NotFound):
        return Problem(status=HTTP_404_NOT_FOUND, title="Not Found", detail=exc.detail)
    if isinstance(exc, Forbidden):
        return Problem(status=HTTP_403_FORBIDDEN, title="Forbidden", detail=exc.detail)
    if isinstance(exc, TooManyAttempts):
        return Problem(
            status=HTTP_429_TOO_MANY_REQUESTS, title="Too Many Requests", detail=exc.detail
        )
    if isinstance(exc, Conflict):
        return Problem(status=HTTP_409_CONFLICT, title="Conflict", detail=exc.detail)
    if isinstance(exc, RecursionError | UnicodeDecodeError):
        # Raised while the JSON body is decoded (msgspec, before any route code runs): a
        # body nested thousands of levels deep, or bytes that are not UTF-8.
        message = (
            "is nested too deeply" if isinstance(exc, RecursionError) else "is not valid UTF-8"
        )
        return Problem(
            status=HTTP_400_BAD_REQUEST,
            title="Invalid input",
            detail=f"body: {message}",
            errors=[FieldError(field="body", message=message)],
        )
    if isinstance(exc, ValidationException):
        errors = _field_errors(exc.extra)
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or exc.detail
        return Problem(status=exc.status_code, title="Invalid input", detail=detail, errors=errors)
    if isinstance(exc, HTTPException):
        title = HTTPStatus(exc.status_code).phrase
        return Problem(status=exc.status_code, title=title, detail=exc.detail or title)
    if isinstance(exc, TimeoutError):  # the request's deadline (webapp.web.deadline)
        log.error("request past its deadline", method=request.method, path=request.url.path)
        return TOO_SLOW
    if isinstance(exc, RedisError):  # the session store (webapp.accounts.sessions)
        log.error(
            "redis unavailable",
            method=request.method,
            path=request.url.path,
            error=f"{type(exc).__name__}: {exc}",
        )
        return SESSIONS_UNAVAILABLE
    if unavailable := database_unavailable(exc):
        cause = getattr(unavailable, "orig", None) or unavailable
        log.error(
            "database unavailable",
            method=request.method,
            path=request.url.path,
            error=f"{type(cause).__name__}: {cause}",
        )
        return UNAVAILABLE
    log.error("unhandled error", method=request.method, path=request.url.path, exc_info=exc)
    return INTERNAL_ERROR


def problem_headers(exc: Exception, problem: Problem) -> dict[str, str]:
    """The headers of an error response: the exception's own, and Retry-After on a 503."""
    headers = dict(getattr(exc, "headers", None) or {})
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    if problem.status == HTTP_503_SERVICE_UNAVAILABLE:
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return headers


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    problem = problem_for(request, exc)
    headers = problem_headers(exc, problem)
    if request.url.path.split("/")[1] in {"api", "docs"}:
        return Response(
            problem, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers
        )
    return Response(
        f"{problem.status} {problem.title}: {problem.detail}\n",
        status_code=problem.status,
        media_type=MediaType.TEXT,
        headers=headers,
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    DomainError: error_response,
    HTTPException: error_response,
    Exception: error_response,
}


class LastResort:
    """Around the whole app: an exception that escapes it still gets a complete
    problem+json answer if the response has not started, instead of the server's bare
    text 500. Such an exception comes from outside the routes' exception handlers: a
    before_send hook (Litestar then raises "Exception caught after response started",
    though nothing was sent) or a middleware. Once the response has started nothing more
    can be said: the error propagates and the server ends the connection, so the client
    sees no response rather than a wrong one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            # Litestar runs the app's before_send hooks inside `send`: the response has
            # started only once they have passed and the message went out.
            await send(message)
            if message["type"] == "http.response.start":
                started = True

        try:
            await self.app(scope, receive, watch)
        except Exception as error:
            if started:
                raise
            problem = _escaped_problem(scope, error)
            body = msgspec.json.encode(problem)
            headers = [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
            ]
            if problem.status == HTTP_503_SERVICE_UNAVAILABLE:
                headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": problem.status,
                "headers": headers,
            }
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})


def _escaped_problem(scope: Scope, error: Exception) -> Problem:
    # Litestar wraps what a before_send hook raised ("Exception caught after response
    # started"): the cause says what happened (a deadline passed in a commit, say).
    cause: BaseException | None = error
    while isinstance(cause, Exception):
        if isinstance(cause, RedisError | TimeoutError) or database_unavailable(cause):
            error = cause
            break
        cause = cause.__cause__
    if isinstance(error, RedisError):
        log.error("redis unavailable", path=scope.get("path"), error=type(error).__name__)
        return SESSIONS_UNAVAILABLE
    if isinstance(error, TimeoutError):
        log.error("request past its deadline", path=scope.get("path"))
        return TOO_SLOW
    if database_unavailable(error):
        log.error("database unavailable", path=scope.get("path"), error=type(error).__name__)
        return UNAVAILABLE
    log.error("unhandled error outside the routes", path=scope.get("path"), exc_info=error)
    return INTERNAL_ERROR
