"""Security headers on every response, the /docs exception, and safe redirect targets."""

from __future__ import annotations

import pytest
from litestar import Litestar, MediaType, get
from litestar.datastructures import Headers
from litestar.testing import AsyncTestClient

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
