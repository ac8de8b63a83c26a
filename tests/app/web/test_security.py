"""Security headers on every response, the /docs exception, safe redirect targets, CSRF
and the cross-site guard of the API, as the whole app applies them."""

from __future__ import annotations

import html
import json
import re

import pytest
from litestar import Litestar, MediaType, get
from litestar.datastructures import Headers
from litestar.testing import AsyncTestClient

from tests.accounts import Person, form_token
from tests.app.forms import HX, Client, add_task, csrf_token, live_titles, post_form, stored
from webapp.app import create_app
from webapp.cache import ReadCache
from webapp.settings import Settings
from webapp.web.security import (
    CONTENT_SECURITY_POLICY,
    DOCS_CONTENT_SECURITY_POLICY,
    add_security_headers,
    is_cross_site,
    local_path,
    same_origin_path,
)


@get("/page", media_type=MediaType.HTML)
async def page() -> str:
    return "<p>hello</p>"


@get("/docs/thing", media_type=MediaType.HTML)
async def docs_thing() -> str:
    return "<script>inline()</script>"


async def test_every_response_gets_the_strict_policy_and_headers() -> None:
    app = Litestar([page, docs_thing], before_send=[add_security_headers])
    async with AsyncTestClient(app) as client:
        for url, status in (("/page", 200), ("/missing", 404)):  # 404: no route at all
            response = await client.get(url)
            assert response.status_code == status
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "same-origin"
            assert response.headers["x-frame-options"] == "DENY"


async def test_the_docs_get_a_policy_that_allows_their_inline_bootstrap() -> None:
    app = Litestar([page, docs_thing], before_send=[add_security_headers])
    async with AsyncTestClient(app) as client:
        response = await client.get("/docs/thing")
    assert response.headers["content-security-policy"] == DOCS_CONTENT_SECURITY_POLICY


def test_the_strict_policy_allows_only_this_site() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "script-src" not in directives  # falls back to default-src 'self': no inline
    assert "style-src" not in directives


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("/", "/"),
        ("/?filter=active&q=milk", "/?filter=active&q=milk"),
        ("/trash?page=2", "/trash?page=2"),
        ("", None),
        (None, None),
        ("https://evil.example/", None),
        ("//evil.example/path", None),
        ("/\\evil.example", None),
        ("/ok\r\nSet-Cookie: x=1", None),
        ("javascript:alert(1)", None),
        ("relative/path", None),
        ("/" + "a" * 3000, None),
    ],
)
def test_local_path_accepts_only_paths_on_this_site(
    candidate: str | None, expected: str | None
) -> None:
    assert local_path(candidate) == expected


@pytest.mark.parametrize(
    ("referer", "expected"),
    [
        ("http://tasks.example/?filter=active", "/?filter=active"),
        ("https://tasks.example/trash", "/trash"),
        ("https://other.example/trash", None),
        ("ftp://tasks.example/trash", None),
        (None, None),
    ],
)
def test_a_referer_counts_only_from_this_host(referer: str | None, expected: str | None) -> None:
    assert same_origin_path(referer, "tasks.example") == expected


@pytest.mark.parametrize(
    ("headers", "cross_site"),
    [
        ({}, False),  # a program: curl, httpx, a script
        ({"sec-fetch-site": "same-origin", "origin": "http://tasks.example"}, False),
        ({"sec-fetch-site": "none"}, False),  # typed in the address bar
        ({"sec-fetch-site": "cross-site", "origin": "https://evil.example"}, True),
        ({"sec-fetch-site": "same-site", "origin": "https://other.tasks.example"}, True),
        ({"origin": "http://tasks.example"}, False),
        ({"origin": "https://evil.example"}, True),
        ({"origin": "null"}, True),  # a sandboxed frame or a file:// page
    ],
)
def test_is_cross_site(headers: dict[str, str], cross_site: bool) -> None:
    assert is_cross_site(Headers({"host": "tasks.example", **headers})) is cross_site


# ------------------------------------------------------------ through the whole app


async def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(client: Client) -> None:
    task = await add_task(client, "Buy milk")
    await csrf_token(client)  # the cookie is set; the form field is what is missing

    for url, data in [
        ("/tasks", {"title": "Forged"}),
        (f"/tasks/{task['id']}/delete", {}),
        ("/trash/empty", {}),
    ]:
        response = await client.post(url, data=data, follow_redirects=False)
        assert response.status_code == 403
    response = await post_form(client, f"/tasks/{task['id']}/complete", token="0" * 128)
    assert response.status_code == 403
    response = await client.post(
        "/tasks", data={"title": "Forged"}, headers={**HX, "X-CSRFToken": "bad"}
    )
    assert response.status_code == 403
    assert "This form has expired" in response.text

    assert await live_titles(client) == ["Buy milk"]
    assert (await stored(client, task["id"]) or {})["completed_at"] is None


async def test_the_json_api_is_exempt_from_csrf(client: Client) -> None:
    response = await client.post("/api/tasks", json={"title": "From a program"})
    assert response.status_code == 201
    assert "tasks_csrf" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    ],
)
async def test_another_sites_pages_cannot_write_through_the_api(
    client: Client, headers: dict[str, str]
) -> None:
    task = await add_task(client, "Buy milk")

    # What a form on another site can send: no preflight, no token.
    for response in [
        await client.post(f"/api/tasks/{task['id']}/complete", headers=headers),
        await client.post(
            "/api/tasks",
            content=b'{"title": "Forged"}',
            headers={**headers, "Content-Type": "text/plain"},
        ),
        await client.post("/api/tasks/clear-completed", headers=headers),
    ]:
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"

    assert await live_titles(client) == ["Buy milk"]
    assert (await stored(client, task["id"]) or {})["completed_at"] is None
    # The same request from this site's own pages (Swagger UI at /docs) goes through.
    same_site = {"Origin": "http://testserver.local", "Sec-Fetch-Site": "same-origin"}
    response = await client.post(f"/api/tasks/{task['id']}/complete", headers=same_site)
    assert response.status_code == 200


async def test_pages_carry_the_security_headers(client: Client) -> None:
    for url in ("/", "/trash", "/static/css/app.css", "/api/tasks"):
        response = await client.get(url)
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("secure", [False, True])
async def test_cookie_secure_marks_the_session_and_csrf_cookies(
    settings: Settings, read_cache: ReadCache, person: Person, secure: bool
) -> None:
    app = create_app(settings.model_copy(update={"cookie_secure": secure}), read_cache)
    async with AsyncTestClient(app, base_url="https://testserver.local") as client:
        page = await client.get("/login")
        logged_in = await client.post(
            "/login",
            data={
                "_csrf_token": form_token(page.text),
                "email": person.email,
                "password": person.password,
            },
            follow_redirects=False,
        )

        assert logged_in.status_code == 303
        csrf_cookie = page.headers["set-cookie"]
        session_cookie = logged_in.headers["set-cookie"]
        assert csrf_cookie.startswith("tasks_csrf=")
        assert session_cookie.startswith("tasks_session=")
        for cookie in (csrf_cookie, session_cookie):
            assert ("; secure" in cookie.lower()) is secure
            assert "httponly" in cookie.lower()
            assert "samesite=lax" in cookie.lower()


async def test_the_swagger_page_gets_its_own_policy(client: Client) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline'" in policy
    assert "frame-ancestors 'none'" in policy


async def test_pages_use_no_inline_script_or_style(client: Client) -> None:
    task = await add_task(client, "Buy milk")
    await client.delete(f"/api/tasks/{task['id']}")
    for url in ("/", f"/?edit={task['id']}", "/trash", "/trash?confirm=empty"):
        body = (await client.get(url)).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", body)
        assert "<style" not in body
        assert not re.search(r"\sstyle=", body)
        assert not re.search(r"\son[a-z]+=", body)


async def test_htmx_is_configured_for_the_csp_and_quick_keys(client: Client) -> None:
    body = (await client.get("/")).text
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", body)
    assert meta
    config = json.loads(html.unescape(meta[1]))
    # Under the CSP htmx must neither inject a <style> nor evaluate strings.
    assert config["includeIndicatorStyles"] is False
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    # htmx wires up swapped-in content when it settles: with a delay, an Enter or Escape
    # typed at once into a fresh edit form went past htmx (a CI failure of the journey).
    assert config["defaultSettleDelay"] == 0
