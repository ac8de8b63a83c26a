"""Idempotency-Key on POST /api: the same key and request give the first answer and do
nothing twice; another request with the key is refused; what the database holds says so."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts import Person, alongside
from tests.app.problems import assert_problem
from tests.stored import stored_tasks
from webapp.db import create_engine
from webapp.idempotency.models import IdempotencyRecord
from webapp.idempotency.service import IdempotencyService, fingerprint
from webapp.settings import Settings
from webapp.tasks.service import TaskService

Client = AsyncTestClient[Litestar]
KEY = {"Idempotency-Key": "0f3c8a6e-create-milk"}


async def test_a_retried_create_returns_the_first_answer_and_creates_nothing(
    client: Client, database_url: str
) -> None:
    first = await client.post("/api/tasks", json={"title": "Buy milk"}, headers=KEY)
    again = await client.post("/api/tasks", json={"title": "Buy milk"}, headers=KEY)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    for header in ("location", "etag", "content-type"):
        assert again.headers[header] == first.headers[header]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert [row["title"] for row in await stored_tasks(database_url)] == ["Buy milk"]


async def test_the_same_key_with_another_request_is_refused(
    client: Client, database_url: str
) -> None:
    await client.post("/api/tasks", json={"title": "Buy milk"}, headers=KEY)
    for method, url, body in [
        ("POST", "/api/tasks", {"title": "Buy bread"}),  # another body
        ("POST", "/api/tasks/complete-all", None),  # another route
    ]:
        kwargs: dict[str, Any] = {"headers": KEY} | ({"json": body} if body else {})
        response = await client.request(method, url, **kwargs)
        assert_problem(response, 422, "Idempotency-Key")
    rows = await stored_tasks(database_url)
    assert [(row["title"], row["completed_at"]) for row in rows] == [("Buy milk", None)]


async def test_different_keys_are_different_requests(client: Client, database_url: str) -> None:
    for key in ("one", "two"):
        response = await client.post(
            "/api/tasks", json={"title": "Buy milk"}, headers={"Idempotency-Key": key}
        )
        assert response.status_code == 201
    assert len(await stored_tasks(database_url)) == 2


async def test_requests_without_a_key_are_not_remembered(client: Client, database_url: str) -> None:
    assert (await client.post("/api/tasks", json={"title": "Buy milk"})).status_code == 201
    for _ in range(2):  # an empty header is no key
        response = await client.post(
            "/api/tasks", json={"title": "Buy milk"}, headers={"Idempotency-Key": ""}
        )
        assert response.status_code == 201
    assert len(await stored_tasks(database_url)) == 3


@pytest.mark.parametrize("key", [b"x" * 256, b"bad key", "ключ".encode(), b"tab\there"])
async def test_a_malformed_key_is_a_400_and_does_nothing(
    client: Client, database_url: str, key: bytes
) -> None:
    response = await client.post(
        "/api/tasks", json={"title": "t"}, headers={b"Idempotency-Key": key}
    )
    assert_problem(response, 400, "Idempotency-Key")
    assert await stored_tasks(database_url) == []


async def test_a_refused_request_is_answered_the_same_again(client: Client) -> None:
    """A 4xx is an answer too: the same request with the key gets it again."""
    first = await client.post("/api/tasks", json={"title": ""}, headers=KEY)
    again = await client.post("/api/tasks", json={"title": ""}, headers=KEY)
    assert_problem(first, 400, "title")
    assert (again.status_code, again.json()) == (400, first.json())
    assert again.headers["idempotent-replayed"] == "true"


async def test_a_request_that_failed_with_a_5xx_may_be_sent_again(
    client: Client, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_create = TaskService.create
    failures = [RuntimeError("a bug, once")]

    async def create_fails_once(self: TaskService, data: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real_create(self, data)

    monkeypatch.setattr(TaskService, "create", create_fails_once)
    failed = await client.post("/api/tasks", json={"title": "Buy milk"}, headers=KEY)
    retried = await client.post("/api/tasks", json={"title": "Buy milk"}, headers=KEY)

    assert failed.status_code == 500
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert [row["title"] for row in await stored_tasks(database_url)] == ["Buy milk"]


async def record_in_progress(
    settings: Settings, person: Person, key: str, request: str, age: float
) -> None:
    """What a first request of `person`'s still being answered (by this or another
    process) leaves."""
    engine = create_engine(settings, pooled=False)
    started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=age)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(IdempotencyRecord).values(
                    caller=person.account_id.hex,
                    key=key,
                    fingerprint=request,
                    created_at=started,
                    expires_at=started + datetime.timedelta(hours=24),
                )
            )
    finally:
        await engine.dispose()


def create_request(title: str) -> str:
    body = json.dumps({"title": title}, separators=(",", ":")).encode()
    return fingerprint("POST", "/api/tasks", b"", body)


async def test_a_duplicate_while_the_first_is_being_answered_is_told_to_wait(
    client: Client, settings: Settings, database_url: str, person: Person
) -> None:
    await record_in_progress(
        settings, person, KEY["Idempotency-Key"], create_request("Buy milk"), age=1
    )
    response = await client.post(
        "/api/tasks",
        content=json.dumps({"title": "Buy milk"}, separators=(",", ":")),
        headers={**KEY, "Content-Type": "application/json"},
    )
    assert_problem(response, 409)
    assert response.headers["retry-after"] == "1"
    assert await stored_tasks(database_url) == []


async def test_a_first_request_whose_process_died_is_taken_over_by_a_retry(
    client: Client, settings: Settings, database_url: str, person: Person
) -> None:
    await record_in_progress(
        settings, person, KEY["Idempotency-Key"], create_request("Buy milk"), age=120
    )
    response = await client.post(
        "/api/tasks",
        content=json.dumps({"title": "Buy milk"}, separators=(",", ":")),
        headers={**KEY, "Content-Type": "application/json"},
    )
    assert response.status_code == 201
    again = await client.post(
        "/api/tasks",
        content=json.dumps({"title": "Buy milk"}, separators=(",", ":")),
        headers={**KEY, "Content-Type": "application/json"},
    )
    assert again.headers["idempotent-replayed"] == "true"
    assert len(await stored_tasks(database_url)) == 1


async def test_a_key_is_forgotten_after_24_hours(
    client: Client, settings: Settings, database_url: str
) -> None:
    assert (await client.post("/api/tasks", json={"title": "a"}, headers=KEY)).status_code == 201
    engine = create_engine(settings, pooled=False)
    try:
        async with engine.begin() as connection:
            yesterday = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
            await connection.execute(update(IdempotencyRecord).values(expires_at=yesterday))
    finally:
        await engine.dispose()
    again = await client.post("/api/tasks", json={"title": "a"}, headers=KEY)
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert len(await stored_tasks(database_url)) == 2


async def test_a_retried_restore_job_is_one_job(client: Client) -> None:
    task = (await client.post("/api/tasks", json={"title": "t"})).json()
    await client.delete(f"/api/tasks/{task['id']}")
    first = await client.post("/api/restore-jobs", json={"all": True}, headers=KEY)
    again = await client.post("/api/restore-jobs", json={"all": True}, headers=KEY)
    assert first.status_code == again.status_code == 202
    assert again.headers["location"] == first.headers["location"]


async def test_a_retry_after_a_commit_whose_answer_was_lost_does_nothing_again(
    client: Client, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database commits the task and dies before saying so: the app answers 503, yet
    the task exists. The retry with the key must not make a second one: the request's
    own transaction marked the key applied."""
    real_commit = AsyncSession.commit
    lost = [OperationalError("COMMIT", {}, Exception("Lost connection to server during query"))]

    async def commit_then_lose_the_answer(self: AsyncSession) -> None:
        await real_commit(self)
        if lost and self.info.get("idempotency"):
            raise lost.pop()

    monkeypatch.setattr(AsyncSession, "commit", commit_then_lose_the_answer)
    first = await client.post("/api/tasks", json={"title": "Buy milk"}, headers=KEY)
    retried = await client.post("/api/tasks", json={"title": "Buy milk"}, headers=KEY)

    assert first.status_code == 503
    assert_problem(retried, 409)
    assert "applied already" in retried.json()["detail"]
    assert [row["title"] for row in await stored_tasks(database_url)] == ["Buy milk"]


async def test_a_key_the_database_could_not_release_is_released_for_a_retry_here(
    client: Client, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request failed before its commit, with the database down: the record
    stays, unmarked. A retry reaching this process runs the request at once (not after
    ABANDONED_AFTER), and makes the task once."""
    real_create = TaskService.create
    failures = [OperationalError("INSERT", {}, Exception("Lost connection to server"))]

    async def create_fails_once(self: TaskService, data: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real_create(self, data)

    async def database_still_down(self: IdempotencyService, attempt: Any) -> None:
        return None  # the background release never gets through

    monkeypatch.setattr(TaskService, "create", create_fails_once)
    monkeypatch.setattr(IdempotencyService, "_release", database_still_down)
    failed = await client.post("/api/tasks", json={"title": "Buy milk"}, headers=KEY)
    retried = await client.post("/api/tasks", json={"title": "Buy milk"}, headers=KEY)

    assert failed.status_code == 503
    assert retried.status_code == 201
    assert [row["title"] for row in await stored_tasks(database_url)] == ["Buy milk"]


async def test_one_key_of_two_accounts_is_two_keys(
    client: Client, running: Client, stranger: Person, database_url: str
) -> None:
    """A key belongs to its account: Bob's request with Ada's key is his own first one,
    never a replay of her answer (which would show him her task)."""
    ada = await client.post("/api/tasks", json={"title": "Ada's"}, headers=KEY)
    async with alongside(running, stranger) as bob:
        his = await bob.post("/api/tasks", json={"title": "Ada's"}, headers=KEY)
        assert his.status_code == 201
        assert "idempotent-replayed" not in his.headers
        assert his.json()["id"] != ada.json()["id"]
    assert len(await stored_tasks(database_url)) == 2


async def test_an_anonymous_request_with_a_key_is_remembered_nowhere(
    anonymous: Client, database_url: str, settings: Settings
) -> None:
    response = await anonymous.post("/api/tasks", json={"title": "t"}, headers=KEY)
    assert response.status_code == 401
    engine = create_engine(settings, pooled=False)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(IdempotencyRecord.key))).all()
    finally:
        await engine.dispose()
    assert rows == []
