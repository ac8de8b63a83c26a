"""Talking to the pages as a browser does: form posts with their CSRF token (as a field,
or as the header htmx sends), htmx answers taken apart, and what the API says is stored."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
HX = {"HX-Request": "true"}


class TopLevel(HTMLParser):
    """The top-level elements of an htmx answer: (tag, id, hx-swap-oob)."""

    VOID = {"input", "br", "img", "meta", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth == 0:
            found = dict(attrs)
            self.found.append((tag, found.get("id") or "", found.get("hx-swap-oob") or ""))
        if tag not in self.VOID:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID:
            self.depth -= 1


def parts(body: str) -> list[tuple[str, str, str]]:
    parser = TopLevel()
    parser.feed(body)
    return parser.found


def part_ids(response: httpx.Response) -> list[str]:
    """What an htmx answer swaps: the main content's id, then `#id` (or the OOB target)."""
    assert "<html" not in response.text
    ids = []
    for _tag, element_id, swap_oob in parts(response.text):
        if swap_oob:
            ids.append(f"oob:{swap_oob.split(':', 1)[1] if ':' in swap_oob else '#' + element_id}")
        else:
            ids.append(element_id)
    return ids


async def csrf_token(client: Client) -> str:
    page = await client.get("/")
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.text)
    assert match, "the page carries its CSRF token in a meta tag"
    return match[1]


async def post_form(
    client: Client,
    url: str,
    data: dict[str, str] | None = None,
    *,
    htmx: bool = False,
    token: str | None = None,
) -> httpx.Response:
    """A form post as a browser sends it: the token in the form, or in the header (htmx)."""
    token = token if token is not None else await csrf_token(client)
    form = dict(data or {})
    headers: dict[str, str] = {}
    if htmx:
        headers = {**HX, "X-CSRFToken": token}
    else:
        form["_csrf_token"] = token
    return await client.post(url, data=form, headers=headers, follow_redirects=False)


async def add_task(client: Client, title: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/tasks", json={"title": title, **fields})
    assert response.status_code == 201
    return dict(response.json())


async def stored(client: Client, task_id: str) -> dict[str, Any] | None:
    response = await client.get(f"/api/tasks/{task_id}")
    return dict(response.json()) if response.status_code == 200 else None


async def live_titles(client: Client) -> list[str]:
    return [t["title"] for t in (await client.get("/api/tasks")).json()["items"]]


async def trash_titles(client: Client) -> list[str]:
    return [t["title"] for t in (await client.get("/api/trash")).json()["items"]]


def counter(body: str) -> str:
    match = re.search(r'id="counter"[^>]*>(.*?)</p>', body, re.S)
    assert match
    return re.sub(r"<[^>]+>", "", match[1]).strip()


def row_titles(body: str) -> list[str]:
    return re.findall(r'class="title">([^<]*)</label>', body)
