"""Sign-up, log-in and log-out through the pages: the first run, REGISTRATION, invites,
sessions (rotated at log-in, destroyed at log-out, tampered), brute-force throttling, and
bad input that changes nothing."""

from __future__ import annotations

from typing import Literal
from uuid import uuid4

import httpx
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import insert, select, update

from tests.accounts import PASSWORD, Person, alongside, browser_on, form_token
from tests.databases import make_settings
from webapp.accounts import passwords
from webapp.accounts.models import Account, Invite
from webapp.accounts.sessions import SESSION_COOKIE
from webapp.accounts.throttle import ACCOUNT_ATTEMPTS, ADDRESS_ATTEMPTS
from webapp.clock import utcnow as now
from webapp.db import create_engine
from webapp.settings import Registration, Settings
from webapp.tasks.models import Task

Client = AsyncTestClient[Litestar]


async def accounts_stored(database_url: str) -> list[tuple[str, bool]]:
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Account.email, Account.is_admin).order_by(Account.created_at)
            )
            return [(email, bool(admin)) for email, admin in rows]
    finally:
        await engine.dispose()


async def sign_up(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await client.get(fields.pop("page", "/signup"))
    if "_csrf_token" not in page.text:  # sign-up by invitation only: no form to take it from
        page = await client.get("/login")
    form = {"email": "", "password": "", "name": "", **fields}
    return await client.post(
        "/signup",
        data={"_csrf_token": form_token(page.text), **form},
        follow_redirects=False,
    )


async def log_in_with(
    client: httpx.AsyncClient, email: str, password: str, **extra: str
) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"_csrf_token": form_token(page.text), "email": email, "password": password, **extra},
        follow_redirects=False,
    )


# ---------------------------------------------------------------- the first run


async def test_a_new_installation_leads_every_page_to_sign_up(anonymous: Client) -> None:
    for path in ("/", "/trash", "/account", "/admin"):
        response = await anonymous.get(path)  # redirects followed: to /login, then /signup
        assert response.url.path == "/signup", path
        assert "it will be the admin" in response.text
    assert (await anonymous.get("/login", follow_redirects=False)).headers["location"] == "/signup"


async def test_the_first_account_is_the_admin_and_is_signed_in_at_once(
    anonymous: Client, database_url: str
) -> None:
    response = await sign_up(anonymous, email="  Ada@Example.COM ", password=PASSWORD, name="Ada")
    assert (response.status_code, response.headers["location"]) == (303, "/")
    page = await anonymous.get("/")
    assert page.status_code == 200
    assert "Ada" in page.text
    assert 'action="/logout"' in page.text
    assert await accounts_stored(database_url) == [("ada@example.com", True)]


async def test_tasks_from_before_accounts_belong_to_the_first_account(
    anonymous: Client, database_url: str
) -> None:
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(Task).values(
                    id=uuid4(),
                    owner_id=None,  # as migration 0005 leaves the tasks it finds
                    title="From before",
                    notes="",
                    priority=0,
                    version=1,
                    created_at=now(),
                    updated_at=now(),
                )
            )
    finally:
        await engine.dispose()
    await sign_up(anonymous, email="ada@example.com", password=PASSWORD)
    listed = await anonymous.get("/")
    assert "From before" in listed.text


# ---------------------------------------------------------------- who may sign up


@pytest.fixture
def registration() -> Registration:
    return Registration.CLOSED


@pytest.fixture
def settings(database_url: str, registration: Registration) -> Settings:
    return make_settings(
        database_url, secret_key="test-secret-key-" + "x" * 32, registration=registration
    )


async def test_with_registration_closed_sign_up_needs_an_invite(
    client: Client, anonymous: Client, database_url: str
) -> None:
    page = await anonymous.get("/signup")
    assert "by invitation" in page.text
    assert 'action="/signup"' not in page.text
    refused = await anonymous.post(
        "/signup",
        data={
            "_csrf_token": form_token((await anonymous.get("/login")).text),
            "email": "eve@example.com",
            "password": PASSWORD,
        },
    )
    assert refused.status_code == 422
    assert "invite link" in refused.text
    assert len(await accounts_stored(database_url)) == 1


async def invite_link(admin: httpx.AsyncClient) -> str:
    page = await admin.get("/invites")
    created = await admin.post("/invites", data={"_csrf_token": form_token(page.text)})
    link = created.text.split('id="invite-link">', 1)[1].split("<", 1)[0]
    return "/" + link.split("/", 3)[3]


async def test_an_invite_link_signs_up_one_person_once(
    client: Client, anonymous: Client, database_url: str
) -> None:
    link = await invite_link(client)
    assert link.startswith("/invites/inv_")
    page = await anonymous.get(link)
    assert page.status_code == 200
    assert 'name="invite"' in page.text
    made = await sign_up(
        anonymous,
        page=link,
        email="bob@example.com",
        password=PASSWORD,
        invite=link.rsplit("/", 1)[1],
    )
    assert made.status_code == 303
    assert await accounts_stored(database_url) == [
        ("ada@example.com", True),
        ("bob@example.com", False),
    ]

    # Used: the link no longer opens the form, nor does a forged post with it work.
    await anonymous.post(
        "/logout", data={"_csrf_token": form_token((await anonymous.get("/account")).text)}
    )
    assert (await anonymous.get(link)).status_code == 404
    again = await sign_up(
        anonymous, email="eve@example.com", password=PASSWORD, invite=link.rsplit("/", 1)[1]
    )
    assert again.status_code == 422
    assert "not valid" in again.text
    assert len(await accounts_stored(database_url)) == 2


async def test_revoked_and_expired_invites_sign_nobody_up(
    client: Client, anonymous: Client, database_url: str
) -> None:
    revoked = await invite_link(client)
    expired = await invite_link(client)
    page = await client.get("/invites")
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.begin() as connection:
            ids = [
                row.id
                for row in await connection.execute(select(Invite.id).order_by(Invite.created_at))
            ]
            await connection.execute(
                update(Invite)
                .where(Invite.id == ids[1])
                .values(expires_at=now().replace(year=2020))
            )
    finally:
        await engine.dispose()
    await client.post(f"/invites/{ids[0]}/revoke", data={"_csrf_token": form_token(page.text)})
    for link in (revoked, expired, "/invites/inv_" + "x" * 43, "/invites/nonsense"):
        assert (await anonymous.get(link)).status_code == 404, link
        response = await sign_up(
            anonymous, email="eve@example.com", password=PASSWORD, invite=link.rsplit("/", 1)[1]
        )
        assert response.status_code == 422, link
    assert len(await accounts_stored(database_url)) == 1


@pytest.mark.parametrize("registration", [Registration.OPEN])
async def test_with_registration_open_anyone_signs_up(
    client: Client, anonymous: Client, database_url: str, registration: Registration
) -> None:
    made = await sign_up(anonymous, email="bob@example.com", password=PASSWORD)
    assert made.status_code == 303
    assert await accounts_stored(database_url) == [
        ("ada@example.com", True),
        ("bob@example.com", False),
    ]


@pytest.mark.parametrize("registration", [Registration.INVITE])
async def test_with_registration_invite_any_account_may_invite(
    client: Client, anonymous: Client, stranger: Person, registration: Registration
) -> None:
    async with alongside(client, stranger) as bob:
        assert (await bob.get("/invites")).status_code == 200
        link = await invite_link(bob)
        spare = await invite_link(bob)
    assert (await anonymous.get(link)).status_code == 200
    # What a disabled account made is void with it: its invite links sign nobody up.
    page = await client.get("/admin")
    await client.post(
        f"/admin/accounts/{stranger.account_id}/disable",
        data={"_csrf_token": form_token(page.text)},
    )
    assert (await anonymous.get(spare)).status_code == 404


async def test_with_registration_closed_only_the_admin_invites(
    client: Client, stranger: Person
) -> None:
    async with alongside(client, stranger) as bob:
        assert (await bob.get("/invites")).status_code == 404
        page = await bob.get("/account")
        assert 'href="/invites"' not in page.text
        made = await bob.post("/invites", data={"_csrf_token": form_token(page.text)})
        assert made.status_code == 404


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("registration", [Registration.OPEN])
@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "is not an email address"),
        ({"email": ""}, "email", "must not be empty"),
        ({"email": "a" * 250 + "@example.com"}, "email", "at most 254"),
        ({"password": "short"}, "password", "at least 8 characters"),
        ({"password": "x" * 1025}, "password", "at most 1024 characters"),
        ({"password": "Password123"}, "password", "most common passwords"),
        ({"name": "a\x07b"}, "name", "control characters"),
        ({"name": "\u200b\u200b"}, "name", "must show something"),
        ({"email": "ADA@example.com "}, "email", "exists already"),
    ],
)
async def test_bad_sign_up_input_is_shown_with_the_form_and_changes_nothing(
    client: Client,
    anonymous: Client,
    database_url: str,
    fields: dict[str, str],
    field: str,
    message: str,
    registration: Registration,
) -> None:
    form = {"email": "bob@example.com", "password": PASSWORD, "name": "Bob", **fields}
    # Registration is open, so that the invite is not what refuses it.
    response = await anonymous.post(
        "/signup",
        data={
            "_csrf_token": form_token((await anonymous.get("/login")).text),
            **form,
            "invite": "",
        },
    )
    assert response.status_code == 422
    assert message in response.text.lower()
    assert f'id="{field}-error"' in response.text
    assert len(await accounts_stored(database_url)) == 1


# ---------------------------------------------------------------- log-in


async def test_log_in_goes_where_next_says_on_this_site_only(
    anonymous: Client, person: Person
) -> None:
    asked = await anonymous.get("/trash?q=milk", follow_redirects=False)
    assert asked.headers["location"] == "/login?next=%2Ftrash%3Fq%3Dmilk"
    page = await anonymous.get(asked.headers["location"])
    assert 'name="next" value="/trash?q=milk"' in page.text
    ok = await log_in_with(anonymous, person.email, PASSWORD, next="/trash?q=milk")
    assert ok.headers["location"] == "/trash?q=milk"
    for elsewhere in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ):
        response = await log_in_with(anonymous, person.email, PASSWORD, next=elsewhere)
        assert (response.status_code, response.headers["location"]) == (303, "/"), elsewhere


async def test_unknown_email_and_wrong_password_look_the_same(
    anonymous: Client, person: Person, database_url: str
) -> None:
    wrong = await log_in_with(anonymous, person.email, "not the password")
    unknown = await log_in_with(anonymous, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 422
    message = "Email or password is wrong."
    assert message in wrong.text
    assert message in unknown.text
    assert 'value="nobody@example.com"' in unknown.text  # the email is kept, never the password
    assert "not the password" not in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")


async def test_an_unknown_email_costs_a_password_check_too(
    anonymous: Client, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timing of the two failures is the same because the work is: one Argon2 check
    each (with the real parameters, about 0.1 s)."""
    checked: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            checked.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "HASHER", Counting(time_cost=1, memory_cost=8, parallelism=1))
    await log_in_with(anonymous, "nobody@example.com", "whatever password")
    await log_in_with(anonymous, person.email, "whatever password")
    assert len(checked) == 2
    assert all(h.startswith("$argon2id$") for h in checked)


async def test_emails_are_case_insensitive_and_trimmed_at_log_in(
    anonymous: Client, person: Person
) -> None:
    response = await log_in_with(anonymous, "  ADA@example.COM ", PASSWORD)
    assert (response.status_code, response.headers["location"]) == (303, "/")


async def test_the_session_id_changes_at_log_in(anonymous: Client, person: Person) -> None:
    """An id planted before log-in (session fixation) is worth nothing after it."""
    planted = "a" * 64
    anonymous.cookies.set(SESSION_COOKIE, planted)
    response = await log_in_with(anonymous, person.email, PASSWORD)
    issued = response.cookies.get(SESSION_COOKIE)
    assert issued
    assert issued != planted
    # The planted id opens nothing.
    fixated = browser_on(anonymous)
    fixated.cookies.set(SESSION_COOKIE, planted)
    assert (await fixated.get("/", follow_redirects=False)).status_code == 303


async def test_log_out_destroys_the_session(anonymous: Client, person: Person) -> None:
    await log_in_with(anonymous, person.email, PASSWORD)
    cookie = anonymous.cookies.get(SESSION_COOKIE)
    assert cookie
    assert (await anonymous.get("/", follow_redirects=False)).status_code == 200
    page = await anonymous.get("/")
    out = await anonymous.post(
        "/logout", data={"_csrf_token": form_token(page.text)}, follow_redirects=False
    )
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    # The cookie goes at once: Max-Age=0 (an Expires in the past beside a long Max-Age
    # would leave browsers sending a cookie of "null" for two weeks).
    dropped = out.headers["set-cookie"].lower()
    assert dropped.startswith(f"{SESSION_COOKIE}=")
    assert "max-age=0" in dropped
    # The old cookie, replayed (as a copy an attacker kept would be), no longer works.
    replay = browser_on(anonymous)
    replay.cookies.set(SESSION_COOKIE, cookie)
    assert (await replay.get("/", follow_redirects=False)).status_code == 303


@pytest.mark.parametrize("cookie", ["x", "null", "a" * 64, "../../etc/passwd", "%00", "a" * 5000])
async def test_a_tampered_session_cookie_is_nobody(
    client: Client, anonymous: Client, cookie: str
) -> None:
    anonymous.cookies.set(SESSION_COOKIE, cookie)
    response = await anonymous.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_pages_of_a_signed_in_account_are_never_cached(client: Client) -> None:
    for path in ("/", "/trash", "/account", "/api/tasks"):
        assert (await client.get(path)).headers["cache-control"] == "no-store", path
        assert (await client.head(path)).headers["cache-control"] == "no-store", path


# ---------------------------------------------------------------- brute force


async def test_repeated_failures_are_throttled_per_account(
    anonymous: Client, person: Person
) -> None:
    for _ in range(ACCOUNT_ATTEMPTS):
        assert (await log_in_with(anonymous, person.email, "wrong guess")).status_code == 422
    throttled = await log_in_with(anonymous, person.email, PASSWORD)  # even the right one
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["retry-after"]) <= 15 * 60
    assert "too many failed log-ins" in throttled.text.lower()
    assert SESSION_COOKIE not in throttled.headers.get("set-cookie", "")


async def test_repeated_failures_from_one_address_are_throttled_across_accounts(
    anonymous: Client, person: Person
) -> None:
    for number in range(ADDRESS_ATTEMPTS):
        await log_in_with(anonymous, f"guess{number}@example.com", "wrong guess")
    assert (await log_in_with(anonymous, person.email, PASSWORD)).status_code == 429


async def test_log_ins_that_succeed_use_up_no_allowance(anonymous: Client, person: Person) -> None:
    """People sharing an address (an office, a proxy) who log in fine are never locked
    out by each other."""
    for _ in range(ADDRESS_ATTEMPTS + 5):
        assert (await log_in_with(anonymous, person.email, PASSWORD)).status_code == 303


@pytest.mark.parametrize("look_alike", ["ädä@example.com", "adá@example.com", "ada@exámple.com"])
async def test_an_email_with_other_accents_is_another_email(
    anonymous: Client, person: Person, look_alike: str
) -> None:
    """MySQL's default collation would take these for ada@example.com: a way in with her
    password, and past her account's throttle."""
    response = await log_in_with(anonymous, look_alike, PASSWORD)
    assert response.status_code == 422
    assert "Email or password is wrong." in response.text
