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
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_412_PRECONDITION_FAILED,
    HTTP_500_INTERNAL_SERVER_ERROR,
)

from webapp.errors import Conflict, DomainError, InvalidInput, NotFound, StaleVersion

log = structlog.get_logger(__name__)

_UNKNOWN_FIELD = re.compile(r"unknown field `(?P<field>[^`]+)`")

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


def _field_errors(extra: Any) -> list[FieldError]:
    """Litestar's validation details, as field name + message."""
    errors = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            message = str(item.get("message", "is invalid"))
            field = str(item.get("key") or item.get("source") or "body")
            if unknown := _UNKNOWN_FIELD.search(message):
                field, message = unknown["field"], "is not a known field"
            errors.append(FieldError(field=field, message=message))
    return errors


def problem_for(request: Request[Any, Any, Any], exc: Exception) -> Problem:
    if isinstance(exc, InvalidInput):
        return Problem(
            status=HTTP_400_BAD_REQUEST,
            title="Invalid input",
            detail=exc.detail,
            errors=[FieldError(field=f, message=m) for f, m in exc.errors.items()],
        )
    if isinstance(exc, StaleVersion):
        # A version sent as If-Match is a precondition (412); one sent in the body is a
        # conflict with the stored state (409).
        status = (
            HTTP_412_PRECONDITION_FAILED if "if-match" in request.headers else HTTP_409_CONFLICT
        )
        return Problem(
            status=status,
            title=HTTPStatus(status).phrase,
            detail=exc.detail,
            current_version=exc.current_version,
        )
    if isinstance(exc, NotFound):
        return Problem(status=HTTP_404_NOT_FOUND, title="Not Found", detail=exc.detail)
    if isinstance(exc, Conflict):
        return Problem(status=HTTP_409_CONFLICT, title="Conflict", detail=exc.detail)
    if isinstance(exc, ValidationException):
        errors = _field_errors(exc.extra)
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or exc.detail
        return Problem(status=exc.status_code, title="Invalid input", detail=detail, errors=errors)
    if isinstance(exc, HTTPException):
        title = HTTPStatus(exc.status_code).phrase
        return Problem(status=exc.status_code, title=title, detail=exc.detail or title)
    log.error("unhandled error", method=request.method, path=request.url.path, exc_info=exc)
    return Problem(
        status=HTTP_500_INTERNAL_SERVER_ERROR,
        title="Internal Server Error",
        detail="something went wrong on our side; it has been logged",
    )


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    problem = problem_for(request, exc)
    headers = getattr(exc, "headers", None) or {}
    if request.url.path.startswith("/api") or request.url.path.startswith("/docs"):
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
