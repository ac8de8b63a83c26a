"""Every error on /api in one problem+json shape; the field named; nothing internal leaked."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import msgspec
import pytest
from litestar import Litestar, get
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.testing import AsyncTestClient, RequestFactory
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts import Person, client_as
from tests.databases import make_settings
from webapp.app import create_app
from webapp.errors import Conflict, InvalidInput, NotFound, StaleVersion
from webapp.settings import Settings
from webapp.tasks import queries
from webapp.web.problems import (
    PROBLEM_JSON,
    LastResort,
    Problem,
    error_response,
    problem_responses,
)


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
    responses = problem_responses(400, 404, 409, 412, 413, 422)
    # On every route: 401 (no valid token), 429 (API_RATE_LIMIT), 503 (its database may
    # not answer in time).
    assert sorted(responses) == [400, 401, 404, 409, 412, 413, 422, 429, 503]
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
        # A token of the right shape: checking it is the first thing that needs the
        # database.
        client.headers["Authorization"] = "Bearer tsk_" + "x" * 43
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
    assert response.headers["retry-after"] == "2"
    assert set(response.json()) == {"status", "title", "detail"}
    assert "127.0.0.1" not in response.text


# ------------------------------------------------------------------ a slow or busy database


async def test_no_free_connection_in_the_pool_is_a_503_with_retry_after(
    client: AsyncTestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def exhausted(*args: object, **kwargs: object) -> None:
        raise PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached")

    monkeypatch.setattr(queries, "load_page", exhausted)
    response = await client.get("/api/tasks")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["title"] == "Service Unavailable"


@pytest.mark.mariadb
@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
async def test_a_statement_past_its_deadline_is_stopped_and_answered_503(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, person: Person
) -> None:
    """DB_STATEMENT_TIMEOUT_SECONDS: MariaDB stops the statement, the request gets a 503
    in about that time instead of waiting for the statement (or a stalled server)."""

    async def slow_page(session: AsyncSession, owner: object, query: object) -> None:
        await session.execute(text("SELECT SLEEP(5)"))

    monkeypatch.setattr(queries, "load_page", slow_page)
    app = create_app(settings.model_copy(update={"db_statement_timeout_seconds": 0.5}))
    async with client_as(app, person) as client:
        started = time.monotonic()
        response = await client.get("/api/tasks")
        elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    assert elapsed < 3, elapsed


async def test_a_session_that_fails_to_close_does_not_spoil_the_answer(
    client: AsyncTestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request's session is closed as the response starts; if the database died
    meanwhile the close fails, and that must not turn a complete answer into the
    server's bare text 500."""
    real_close = AsyncSession.close

    async def failing_close(self: AsyncSession) -> None:
        await real_close(self)
        raise OperationalError("ROLLBACK", {}, Exception("Lost connection to server"))

    assert (await client.get("/api/me")).status_code == 200  # the token is looked up
    monkeypatch.setattr(AsyncSession, "close", failing_close)
    response = await client.get("/api/tasks")  # a cache miss: it opens a session
    assert response.status_code == 200
    assert response.json()["items"] == []


async def test_an_error_escaping_the_app_is_still_a_problem() -> None:
    """LastResort: an exception raised outside the routes' handlers (here a before_send
    hook, as advanced-alchemy's session close was) before the response started still gets
    a complete problem+json answer, not the server's text 500."""

    failures = [OperationalError("ROLLBACK", {}, Exception("gone"))]

    async def broken_hook(message: Any, scope: Any) -> None:
        # Like a session close on a dead connection: fails once, then has nothing to do.
        if failures:
            raise failures.pop()

    @get("/thing")
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    app = Litestar([thing], before_send=[broken_hook])
    app.asgi_handler = LastResort(app.asgi_handler)
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/thing")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == "2"
    assert response.json()["title"] == "Service Unavailable"


async def test_a_deadline_passing_in_a_before_send_hook_is_a_503() -> None:
    """The request's deadline may pass while the session's commit waits in a before_send
    hook (a stalled database): Litestar wraps the TimeoutError, LastResort still answers
    503, not 500."""

    failures: list[Exception] = [TimeoutError()]

    async def stalled_commit(message: Any, scope: Any) -> None:
        # The commit the deadline cancelled: the session has nothing left to do after.
        if failures:
            raise failures.pop()

    @get("/thing")
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    app = Litestar([thing], before_send=[stalled_commit])
    app.asgi_handler = LastResort(app.asgi_handler)
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/thing")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"


async def test_a_request_past_its_deadline_is_answered_503(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, person: Person
) -> None:
    """Each statement has a deadline, but a request may meet several in a row against a
    stalled database; the request as a whole gets their sum (webapp.web.deadline)."""

    async def stalled(*args: object, **kwargs: object) -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(queries, "load_page", stalled)
    quick = settings.model_copy(
        update={"db_statement_timeout_seconds": 0.3, "db_pool_timeout_seconds": 0.2}
    )
    async with client_as(create_app(quick), person) as client:
        started = time.monotonic()
        response = await client.get("/api/tasks")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["title"] == "Service Unavailable"
    assert elapsed < 5, elapsed
