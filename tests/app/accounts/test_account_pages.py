"""The account page: name, password (ends the other sessions), API tokens (shown once,
last use, revocation that stops the token within 5 s), and deleting the account with all
it owns. And the admin's page: disable, enable, delete; nobody else sees it."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from tests.accounts import PASSWORD, Person, alongside, browser_on, form_token, log_in
from tests.databases import make_settings
from webapp.accounts import auth
from webapp.accounts.models import Account, ApiToken
from webapp.db import create_engine
from webapp.idempotency.models import IdempotencyRecord
from webapp.jobs.models import Job
from webapp.tasks.models import Task

Client = AsyncTestClient[Litestar]


async def post(client: httpx.AsyncClient, url: str, **data: str) -> httpx.Response:
    page = await client.get("/account")
    return await client.post(
        url, data={"_csrf_token": form_token(page.text), **data}, follow_redirects=False
    )


async def counts(database_url: str, account_id: UUID) -> dict[str, int]:
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:

            async def count(model: Any, *where: Any) -> int:
                statement = select(func.count()).select_from(model).where(*where)
                return int(await connection.scalar(statement) or 0)

            return {
                "account": await count(Account, Account.id == account_id),
                "tasks": await count(Task, Task.owner_id == account_id),
                "jobs": await count(Job, Job.owner_id == account_id),
                "tokens": await count(ApiToken, ApiToken.account_id == account_id),
                "keys": await count(IdempotencyRecord, IdempotencyRecord.caller == account_id.hex),
            }
    finally:
        await engine.dispose()


class Clock:
    """Time for the authenticator's memory, moved on by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("webapp.accounts.auth.time.monotonic", clock)
    return clock


# ---------------------------------------------------------------- profile and password


async def test_renaming_shows_the_new_name_at_once(client: Client) -> None:
    response = await post(client, "/account/name", name="  Ada Lovelace ")
    assert (response.status_code, response.headers["location"]) == (303, "/account")
    page = await client.get("/account")
    assert "Name saved." in page.text
    assert re.search(r'class="me">\s*<a[^>]*>Ada Lovelace</a>', page.text)
    too_long = await post(client, "/account/name", name="x" * 101)
    assert too_long.status_code == 422
    assert "at most 100 characters" in too_long.text


async def test_a_new_password_needs_the_current_one_and_ends_every_other_session(
    client: Client, running: Client, person: Person
) -> None:
    async with alongside(running, person) as elsewhere:
        assert (await elsewhere.get("/", follow_redirects=False)).status_code == 200

        wrong = await post(
            client, "/account/password", current_password="nope", new_password="a new long password"
        )
        assert wrong.status_code == 422
        assert "not the password of this account" in wrong.text
        weak = await post(
            client, "/account/password", current_password=PASSWORD, new_password="12345678"
        )
        assert weak.status_code == 422
        assert "most common" in weak.text

        changed = await post(
            client,
            "/account/password",
            current_password=PASSWORD,
            new_password="a new long password",
        )
        assert changed.status_code == 303
        # This session carries on (under a new id); the other one is over.
        assert (await client.get("/", follow_redirects=False)).status_code == 200
        assert (await elsewhere.get("/", follow_redirects=False)).status_code == 303
    # The old password no longer opens the account; the new one does.
    fresh = browser_on(running)
    with pytest.raises(AssertionError):
        await log_in(fresh, person)
    await log_in(
        fresh, Person(person.email, "a new long password", person.account_id, person.token)
    )


async def test_deleting_the_account_takes_everything_it_owns(
    client: Client,
    person: Person,
    stranger: Person,
    database_url: str,
    running: Client,
    clock: Clock,
) -> None:
    await client.post("/api/tasks", json={"title": "mine"}, headers={"Idempotency-Key": "k1"})
    trashed = (await client.post("/api/tasks", json={"title": "binned"})).json()
    await client.delete(f"/api/tasks/{trashed['id']}")
    await client.post("/api/restore-jobs", json={"all": True})
    assert (await counts(database_url, stranger.account_id))["account"] == 1
    assert (await counts(database_url, person.account_id)) == {
        "account": 1,
        "tasks": 2,
        "jobs": 1,
        "tokens": 1,
        "keys": 1,
    }
    async with alongside(running, stranger) as bob:
        refused = await post(bob, "/account/delete", delete_password="not it")
        assert refused.status_code == 422
        assert "not the password of this account" in refused.text
        assert (await counts(database_url, stranger.account_id))["account"] == 1
        gone = await post(bob, "/account/delete", delete_password=PASSWORD)
        assert (gone.status_code, gone.headers["location"]) == (303, "/login")
        assert (await bob.get("/", follow_redirects=False)).status_code == 303
    assert await counts(database_url, stranger.account_id) == dict.fromkeys(
        ("account", "tasks", "jobs", "tokens", "keys"), 0
    )
    # Bob's token died with the account, on every process once its memory has expired.
    clock.now += auth.AUTH_CACHE_SECONDS + 0.1
    refused_token = await browser_on(running).get("/api/tasks", headers=stranger.bearer)
    assert refused_token.status_code == 401
    # The only admin cannot delete their account: nobody could administer the rest.
    last = await post(client, "/account/delete", delete_password=PASSWORD)
    assert last.status_code == 409
    assert (await counts(database_url, person.account_id))["account"] == 1


# ---------------------------------------------------------------- tokens


async def test_a_token_is_shown_once_listed_with_its_last_use_and_revocable(
    client: Client, running: Client, clock: Clock
) -> None:
    made = await post(client, "/account/tokens", token_name="nightly export")
    assert made.status_code == 200
    secret = re.search(r'id="new-token">(tsk_[A-Za-z0-9_-]{43})<', made.text)
    assert secret
    token = secret[1]
    assert token not in (await client.get("/account")).text  # shown that once only
    assert "never used" in (await client.get("/account")).text

    program = browser_on(running)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await program.get("/api/me", headers=bearer)).json()["email"] == "ada@example.com"
    page = (await client.get("/account")).text
    assert "nightly export" in page
    assert "last used" in page

    token_id = re.search(
        r'action="/account/tokens/([0-9a-f-]{36})/revoke"[^>]*>\s*<input[^>]*>\s*<button[^>]*aria-label="Revoke nightly export"',
        page,
    )
    assert token_id
    revoked = await post(client, f"/account/tokens/{token_id[1]}/revoke")
    assert revoked.status_code == 303
    assert "nightly export" not in (await client.get("/account")).text
    clock.now += auth.AUTH_CACHE_SECONDS + 0.1
    refused = await program.get("/api/me", headers=bearer)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "a\x00b"])
async def test_a_token_needs_a_name(
    client: Client, name: str, database_url: str, person: Person
) -> None:
    response = await post(client, "/account/tokens", token_name=name)
    assert response.status_code == 422
    assert 'id="token_name-error"' in response.text
    assert (await counts(database_url, person.account_id))["tokens"] == 1


# ---------------------------------------------------------------- the admin


async def test_only_the_admin_sees_the_admin_page(
    client: Client, running: Client, stranger: Person, person: Person
) -> None:
    page = await client.get("/admin")
    assert page.status_code == 200
    assert "bob@example.com" in page.text
    assert 'href="/admin"' in page.text
    async with alongside(running, stranger) as bob:
        assert 'href="/admin"' not in (await bob.get("/")).text
        assert (await bob.get("/admin")).status_code == 404
        token = form_token((await bob.get("/account")).text)
        for action in ("disable", "enable", "delete"):
            response = await bob.post(
                f"/admin/accounts/{person.account_id}/{action}", data={"_csrf_token": token}
            )
            assert response.status_code == 404, action
    assert (await client.get("/", follow_redirects=False)).status_code == 200


async def test_a_disabled_account_can_neither_log_in_nor_use_its_session_or_token(
    client: Client, running: Client, stranger: Person, clock: Clock, database_url: str
) -> None:
    async with alongside(running, stranger) as bob:
        assert (await bob.get("/", follow_redirects=False)).status_code == 200
        disabled = await post(client, f"/admin/accounts/{stranger.account_id}/disable")
        assert disabled.status_code == 303
        assert "disabled" in (await client.get("/admin")).text
        # This process forgets Bob at once; another would within AUTH_CACHE_SECONDS.
        clock.now += auth.AUTH_CACHE_SECONDS + 0.1
        assert (await bob.get("/", follow_redirects=False)).status_code == 303
        assert (await bob.get("/api/tasks")).status_code == 401
    again = browser_on(running)
    page = await again.get("/login")
    refused = await again.post(
        "/login",
        data={"_csrf_token": form_token(page.text), "email": stranger.email, "password": PASSWORD},
    )
    assert refused.status_code == 422
    assert "disabled" in refused.text

    await post(client, f"/admin/accounts/{stranger.account_id}/enable")
    clock.now += auth.AUTH_CACHE_SECONDS + 0.1
    assert (await browser_on(running).get("/api/tasks", headers=stranger.bearer)).status_code == 200


async def test_the_admin_deletes_another_account_but_not_their_own(
    client: Client, stranger: Person, person: Person, database_url: str
) -> None:
    confirm = await client.get(f"/admin?delete={stranger.account_id}")
    assert "Delete bob@example.com with all their tasks?" in confirm.text
    deleted = await post(client, f"/admin/accounts/{stranger.account_id}/delete")
    assert deleted.status_code == 303
    assert (await counts(database_url, stranger.account_id))["account"] == 0
    for action in ("disable", "delete"):
        own = await post(client, f"/admin/accounts/{person.account_id}/{action}")
        assert own.status_code == 409, action
    assert (await counts(database_url, person.account_id))["account"] == 1
