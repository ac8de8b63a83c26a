"""Every error on /api in one problem+json shape; the field named; nothing internal leaked."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.testing import AsyncTestClient, RequestFactory

from tests.databases import make_settings
from webapp.app import create_app
from webapp.errors import Conflict, InvalidInput, NotFound, StaleVersion
from webapp.web.problems import PROBLEM_JSON, Problem, error_response, problem_responses


def problem(exc: Exception, path: str = "/api/tasks") -> tuple[int, str, dict[str, Any]]:
    """Status, media type and decoded body of the response for `exc` raised at `path`."""
    response = error_response(RequestFactory().get(path), exc)
    body = response.content
    decoded = msgspec.to_builtins(body) if isinstance(body, Problem) else {"text": body}
    assert response.status_code is not None
    return response.status_code, str(response.media_type), decoded


@pytest.mark.parametrize(
    ("exc", "status", "expected"),
    [
        (
            InvalidInput({"title": "must not be empty", "notes": "too long"}),
            400,
            {
                "title": "Invalid input",
                "errors": [
                    {"field": "title", "message": "must not be empty"},
                    {"field": "notes", "message": "too long"},
                ],
            },
        ),
        (NotFound("task x does not exist"), 404, {"detail": "task x does not exist"}),
        (Conflict("task x is not in the trash"), 409, {"title": "Conflict"}),
        (StaleVersion("stale", current_version=4), 409, {"current_version": 4}),
        (
            StaleVersion("stale", current_version=4, precondition=True),
            412,
            {"title": "Precondition Failed", "current_version": 4},
        ),
        # Python 3.13 renamed 413 "Content Too Large" (RFC 9110): the title follows Python.
        (HTTPException(status_code=413), 413, {"title": HTTPStatus(413).phrase}),
        (NotFoundException(), 404, {"title": "Not Found"}),
    ],
    ids=["invalid", "not-found", "conflict", "stale-body", "stale-if-match", "413", "route-404"],
)
def test_errors_become_problems(exc: Exception, status: int, expected: dict[str, Any]) -> None:
    code, media_type, body = problem(exc)
    assert (code, media_type) == (status, PROBLEM_JSON)
    assert body["status"] == status
    assert {key: body[key] for key in expected} == expected
    assert set(body) <= {"status", "title", "detail", "errors", "current_version"}


@pytest.mark.parametrize(
    ("message", "key", "field", "says"),
    [
        ("Object contains unknown field `colour`", "data", "colour", "is not a known field"),
        ("Object missing required field `title`", "data", "title", "is required"),
        ("Expected `object`, got `array`", "data", "body", "Expected `object`, got `array`"),
        ("Invalid enum value 'urgent'", "priority", "priority", "Invalid enum value 'urgent'"),
    ],
)
def test_validation_errors_name_the_field(message: str, key: str, field: str, says: str) -> None:
    exc = ValidationException(
        detail="Validation failed", extra=[{"message": message, "key": key, "source": "body"}]
    )
    _, _, body = problem(exc)
    assert body["errors"] == [{"field": field, "message": says}]
    assert body["detail"] == f"{field}: {says}"


def test_an_unexpected_error_says_nothing_of_its_cause() -> None:
    code, media_type, body = problem(RuntimeError("password=hunter2 in a stack"))
    assert (code, media_type) == (500, PROBLEM_JSON)
    assert "hunter2" not in repr(body)
    assert body["title"] == "Internal Server Error"


@pytest.mark.parametrize("path", ["/", "/tasks", "/apiary", "/static/x.css"])
def test_pages_do_not_get_problem_json(path: str) -> None:
    code, media_type, _ = problem(NotFound("gone"), path)
    assert code == 404
    assert media_type != PROBLEM_JSON


def test_problem_responses_document_each_status_with_an_example() -> None:
    responses = problem_responses(400, 404, 409, 412, 413)
    assert sorted(responses) == [400, 404, 409, 412, 413]
    for status, spec in responses.items():
        assert spec.data_container is Problem
        assert spec.media_type == PROBLEM_JSON
        assert spec.examples
        example = spec.examples[0].value
        assert isinstance(example, dict)
        assert example["status"] == status


@pytest.fixture
async def client_without_database() -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The app configured for a MariaDB on a port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = make_settings(f"mysql+asyncmy://root@127.0.0.1:{port}/tasks")
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/tasks", {"title": "t"}),
        ("GET", "/api/tasks", None),
        ("GET", "/api/tasks/01890000-0000-7000-8000-000000000000", None),
        ("DELETE", "/api/trash", None),
    ],
)
async def test_a_database_that_is_down_is_a_503_problem(
    client_without_database: AsyncTestClient[Litestar],
    method: str,
    url: str,
    body: dict[str, str] | None,
) -> None:
    # Not advanced-alchemy's own answer (a 409 in another shape): the outage, in ours.
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    response = await client_without_database.request(method, url, **kwargs)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert set(response.json()) == {"status", "title", "detail"}
    assert "127.0.0.1" not in response.text
