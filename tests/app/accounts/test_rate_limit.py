"""API_RATE_LIMIT: requests a minute per API token, then 429 with Retry-After; other
tokens, and the pages, are not affected. Off (0) by default."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.accounts import Person, alongside, client_as
from tests.databases import make_settings
from webapp.app import create_app
from webapp.settings import Settings

Client = AsyncTestClient[Litestar]
LIMIT = 3


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, secret_key="k" * 40, api_rate_limit=LIMIT)


async def test_a_token_over_its_limit_waits_and_others_do_not(
    client: Client, running: Client, stranger: Person
) -> None:
    for number in range(LIMIT):
        response = await client.get("/api/tasks")
        assert response.status_code == 200
        assert response.headers["ratelimit-remaining"] == str(LIMIT - number - 1)
    refused = await client.get("/api/tasks")
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(refused.headers["retry-after"]) <= 60
    created = await client.post("/api/tasks", json={"title": "over the limit"})
    assert created.status_code == 429
    # Another account's token has its own count; the pages (session) have none.
    async with alongside(running, stranger) as bob:
        assert (await bob.get("/api/tasks")).status_code == 200
    assert (await client.get("/")).status_code == 200
    assert "over the limit" not in (await client.get("/")).text


async def test_off_by_default(database_url: str, person: Person) -> None:
    app = create_app(make_settings(database_url, secret_key="k" * 40))
    async with client_as(app, person) as client:
        for _ in range(LIMIT + 2):
            response = await client.get("/api/tasks")
            assert response.status_code == 200
            assert "ratelimit-limit" not in response.headers
