"""Requests sent at the same moment, to an app served over real HTTP (the test client
handles one request at a time, which would hide these races)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import select

from tests.accounts import PASSWORD, Person, form_token
from tests.databases import make_settings
from tests.served import serving
from webapp.accounts.models import Account
from webapp.accounts.throttle import ACCOUNT_ATTEMPTS
from webapp.app import create_app
from webapp.db import create_engine
from webapp.settings import Settings


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


@pytest.fixture
async def browsers(base_url: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    clients = [httpx.AsyncClient(base_url=base_url, timeout=30) for _ in range(4)]
    yield clients
    for client in clients:
        await client.aclose()


async def form(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    return form_token(page.text)


async def test_two_first_sign_ups_at_once_make_one_admin(
    browsers: list[httpx.AsyncClient], database_url: str
) -> None:
    """On a new installation the first account is the admin; people signing up at the
    same moment cannot all be (with REGISTRATION=closed the later ones need an invite)."""
    tokens = [await form(browser, "/signup") for browser in browsers]

    async def sign_up(browser: httpx.AsyncClient, token: str, number: int) -> int:
        response = await browser.post(
            "/signup",
            data={
                "_csrf_token": token,
                "email": f"racer{number}@example.com",
                "password": PASSWORD,
            },
        )
        return response.status_code

    statuses = await asyncio.gather(
        *(sign_up(b, t, n) for n, (b, t) in enumerate(zip(browsers, tokens, strict=True)))
    )
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:
            admins = (await connection.execute(select(Account.is_admin))).scalars().all()
    finally:
        await engine.dispose()
    assert list(admins) == [True], statuses
    assert sorted(statuses) == [303, 422, 422, 422]


async def test_guesses_sent_all_at_once_are_counted_in_full(
    browsers: list[httpx.AsyncClient], person: Person
) -> None:
    """Each attempt is counted before its password is checked: a burst cannot slip more
    guesses through than the limit while the first ones are still being checked, and the
    right password, sent last in it, does not open the account."""
    browser = browsers[0]
    token = await form(browser, "/login")
    guesses = [f"guess {number}" for number in range(3 * ACCOUNT_ATTEMPTS - 1)] + [PASSWORD]

    async def guess(password: str) -> int:
        response = await browser.post(
            "/login",
            data={"_csrf_token": token, "email": person.email, "password": password},
        )
        return response.status_code

    statuses = await asyncio.gather(*(guess(password) for password in guesses))
    assert statuses.count(422) <= ACCOUNT_ATTEMPTS, statuses
    assert statuses.count(429) >= 2 * ACCOUNT_ATTEMPTS, statuses
    assert 303 not in statuses
