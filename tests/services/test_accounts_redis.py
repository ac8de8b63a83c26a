"""Accounts across processes through Redis (REDIS_URL set): a session made on one app
process is served by another, a log-out on one ends it on all, failed log-ins are
counted together, and a Redis that is down is a 503, never a 500 or a hang."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import httpx
import pytest
import redis
from litestar.testing import AsyncTestClient

from tests.accounts import PASSWORD, Person, form_token
from tests.needs import REDIS_URL, need
from tests.services.redis_server import PrivateRedis
from webapp.accounts.sessions import SESSION_COOKIE
from webapp.accounts.throttle import ACCOUNT_ATTEMPTS
from webapp.app import create_app
from webapp.cache import NullReadCache
from webapp.settings import Settings

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix() -> Iterator[str]:
    need("redis")
    prefix = f"test:accounts:{uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def on_redis(settings: Settings, url: str, prefix: str) -> Settings:
    return settings.model_copy(update={"redis_url": url, "cache_key_prefix": prefix})


async def log_in_with(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"_csrf_token": form_token(page.text), "email": email, "password": password},
        follow_redirects=False,
    )


async def test_any_process_serves_a_session_and_a_log_out_ends_it_everywhere(
    settings: Settings, person: Person, prefix: str
) -> None:
    shared = on_redis(settings, REDIS_URL, prefix)
    app_a = create_app(shared, read_cache=NullReadCache())
    app_b = create_app(shared, read_cache=NullReadCache())
    async with AsyncTestClient(app=app_a) as a, AsyncTestClient(app=app_b) as b:
        assert (await log_in_with(a, person.email, PASSWORD)).status_code == 303
        cookie = a.cookies[SESSION_COOKIE]
        b.cookies.set(SESSION_COOKIE, cookie)
        page = await b.get("/", follow_redirects=False)
        assert page.status_code == 200
        assert "Ada" in page.text
        # Stored in Redis under the app's prefix, nowhere else.
        keys = redis.Redis.from_url(REDIS_URL).keys(f"{prefix}session*")
        assert len(keys) == 1

        out = await b.post(
            "/logout", data={"_csrf_token": form_token(page.text)}, follow_redirects=False
        )
        assert out.status_code == 303
        assert (await a.get("/", follow_redirects=False)).status_code == 303


async def test_failed_log_ins_are_counted_across_processes(
    settings: Settings, person: Person, prefix: str
) -> None:
    shared = on_redis(settings, REDIS_URL, prefix)
    app_a = create_app(shared, read_cache=NullReadCache())
    app_b = create_app(shared, read_cache=NullReadCache())
    async with AsyncTestClient(app=app_a) as a, AsyncTestClient(app=app_b) as b:
        for attempt in range(ACCOUNT_ATTEMPTS):
            client = a if attempt % 2 else b
            assert (await log_in_with(client, person.email, "wrong")).status_code == 422
        for client in (a, b):
            refused = await log_in_with(client, person.email, PASSWORD)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) > 0


async def test_a_redis_that_is_down_makes_signed_in_pages_a_503_and_recovers(
    settings: Settings, person: Person, private_redis: PrivateRedis
) -> None:
    app = create_app(on_redis(settings, private_redis.url, "t:"), read_cache=NullReadCache())
    async with AsyncTestClient(app=app) as client:
        assert (await log_in_with(client, person.email, PASSWORD)).status_code == 303
        assert (await client.get("/", follow_redirects=False)).status_code == 200

        private_redis.kill()
        down = await client.get("/", follow_redirects=False)
        assert down.status_code == 503
        assert down.headers["retry-after"] == "2"
        # The API needs no session: its token still works without Redis.
        assert (await client.get("/api/tasks", headers=person.bearer)).status_code == 200

        private_redis.start()  # its append-only file kept the session
        assert (await client.get("/", follow_redirects=False)).status_code == 200
