"""People for the tests: accounts made in the database, and clients signed in as them the
way a browser (the log-in form, its session cookie) and a program (a bearer token) are."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

import httpx
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.databases import make_settings
from webapp.accounts import secrets
from webapp.accounts.caller import Caller
from webapp.accounts.models import ApiToken
from webapp.accounts.service import AccountService
from webapp.accounts.tokens import ApiTokenService
from webapp.clock import utcnow
from webapp.db import create_engine

PASSWORD = "correct horse battery staple"
# Argon2id with the least work it takes: the tests hash hundreds of passwords. What the
# parameters are is tested apart (tests/app/accounts/test_passwords.py).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

Client = AsyncTestClient[Litestar]


@dataclass(frozen=True)
class Person:
    email: str
    password: str
    account_id: UUID
    token: str  # a personal API token of theirs

    @property
    def caller(self) -> Caller:
        return Caller(account_id=self.account_id)

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_person(
    database_url: str,
    email: str,
    *,
    admin: bool = False,
    name: str = "",
    token: str | None = None,
) -> Person:
    """An account (the first one made is the admin) and an API token of its own: a new
    one, or `token` when a test must know it before the account exists."""
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            account = await AccountService(session).create(email, PASSWORD, name=name, admin=admin)
            if token is None:
                token = (await ApiTokenService(session, Caller(account.id)).create("tests")).secret
            else:
                now = utcnow()
                session.add(
                    ApiToken(
                        account_id=account.id,
                        name="tests",
                        token_hash=secrets.digest(token),
                        hint=token[: secrets.HINT_LENGTH],
                        created_at=now,
                        updated_at=now,
                    )
                )
                await session.commit()
    finally:
        await engine.dispose()
    return Person(email=account.email, password=PASSWORD, account_id=account.id, token=token)


def form_token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the page has a form with its CSRF token"
    return match[1]


async def log_in(client: httpx.AsyncClient, person: Person) -> None:
    """Log in through the log-in form, as a browser does (the session cookie is kept)."""
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "_csrf_token": form_token(page.text),
            "email": person.email,
            "password": person.password,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def browser_on(running: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another browser on an app that `running` has started: cookies of its own, the
    same app, event loop and connections (a second AsyncTestClient would start the app
    again, on a loop of its own, where the first one's database and Redis connections
    fail). Neither entered nor closed: both would enter or close the transport, which is
    the running client's."""
    return httpx.AsyncClient(
        transport=running._transport,  # the running app's, on its loop
        base_url=running.base_url,
        headers={"user-agent": "testclient"},
        follow_redirects=True,
    )


@asynccontextmanager
async def alongside(running: httpx.AsyncClient, person: Person) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser on the app `running` uses, signed in as `person`: logged in
    (pages) and sending their token (/api)."""
    other = browser_on(running)
    await log_in(other, person)
    other.headers.update(person.bearer)
    yield other


@asynccontextmanager
async def client_as(app: Litestar, person: Person, **options: object) -> AsyncIterator[Client]:
    """A client signed in as `person`: logged in (pages) and sending their token (/api)."""
    async with AsyncTestClient(app=app, **options) as client:  # type: ignore[arg-type]
        await log_in(client, person)
        client.headers.update(person.bearer)
        yield client
