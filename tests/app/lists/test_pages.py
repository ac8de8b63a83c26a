"""Lists in the browser: the sidebar, a list's own page, adding to and moving between
lists, the settings page (rename, share, revoke, leave, delete after asking), and what a
viewer is (not) offered — each checked as a form post without JavaScript and, where the
page swaps, with htmx."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.accounts import Person, alongside
from tests.app.forms import HX, csrf_token, part_ids, post_form, row_titles

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def bob(running: Client, stranger: Person) -> AsyncIterator[httpx.AsyncClient]:
    async with alongside(running, stranger) as client:
        yield client


async def make_list(client: Client, name: str) -> str:
    response = await post_form(client, "/lists", {"name": name})
    assert response.status_code == 303
    match = re.fullmatch(r"/lists/([0-9a-f-]{36})", response.headers["location"])
    assert match, response.headers["location"]
    return match[1]


def sidebar(body: str) -> list[str]:
    """The sidebar's entries as read: name and count."""
    nav = re.search(r'<nav id="lists-nav".*?</nav>', body, re.S)
    assert nav
    entries = re.findall(
        r'<a href="/(?:lists/[^"]*)?"[^>]*>(?:<span class="name">)?([^<]+)(?:</span>'
        r' <span class="count"[^>]*>(\d+)</span>)?</a>',
        nav[0],
    )
    return [f"{name} {count}".strip() for name, count in entries]


async def test_the_sidebar_lists_every_list_with_its_count_and_each_list_has_a_page(
    client: Client,
) -> None:
    groceries = await make_list(client, "Groceries")
    page = await client.get(f"/lists/{groceries}")
    assert "Made the list “Groceries”." in page.text
    await post_form(client, "/tasks", {"title": "Milk", "list_id": groceries})
    await post_form(client, "/tasks", {"title": "Call mum"})
    home = await client.get("/")
    assert sidebar(home.text) == ["All tasks", "Inbox 1", "Groceries 1"]
    assert row_titles(home.text) == ["Call mum", "Milk"]
    one = await client.get(f"/lists/{groceries}")
    assert row_titles(one.text) == ["Milk"]
    assert "<title>Groceries · Tasks</title>" in one.text
    assert f'value="{groceries}"' in one.text  # the add form adds to this list
    searched = await client.get(f"/lists/{groceries}", params={"q": "mum"})
    assert row_titles(searched.text) == []
    assert (await client.get("/lists/01938c5e-8a4b-7c2d-9e0f-123456789abc")).status_code == 404


async def test_adding_with_htmx_on_a_list_page_refreshes_the_sidebar_count(client: Client) -> None:
    groceries = await make_list(client, "Groceries")
    response = await post_form(
        client,
        "/tasks",
        {"title": "Milk", "list_id": groceries, "next": f"/lists/{groceries}"},
        htmx=True,
    )
    assert "oob:#lists-nav" in part_ids(response)
    assert "Groceries 1" in sidebar(response.text)


async def test_a_task_moves_to_another_list_from_its_edit_form(client: Client) -> None:
    groceries = await make_list(client, "Groceries")
    task = (await client.post("/api/tasks", json={"title": "Milk"})).json()
    editor = await client.get("/", params={"edit": task["id"]})
    assert f'<option value="{groceries}">Groceries</option>' in editor.text
    saved = await post_form(
        client,
        f"/tasks/{task['id']}",
        {"title": "Milk", "version": str(task["version"]), "list_id": groceries, "next": "/"},
    )
    assert saved.status_code == 303
    moved = (await client.get(f"/api/tasks/{task['id']}")).json()
    assert moved["list_id"] == groceries
    assert moved["version"] == task["version"] + 1


async def test_the_owner_renames_shares_and_revokes_on_the_settings_page(
    client: Client, bob: httpx.AsyncClient, stranger: Person
) -> None:
    groceries = await make_list(client, "Groceries")
    settings = f"/lists/{groceries}/settings"
    renamed = await post_form(client, f"/lists/{groceries}/rename", {"name": "Food"})
    assert renamed.headers["location"] == settings
    refused = await post_form(client, f"/lists/{groceries}/rename", {"name": "   "})
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.text
    unknown = await post_form(
        client, f"/lists/{groceries}/members", {"email": "nobody@example.com", "role": "viewer"}
    )
    assert unknown.status_code == 422
    assert "o account here has this email" in unknown.text
    shared = await post_form(
        client, f"/lists/{groceries}/members", {"email": stranger.email, "role": "editor"}
    )
    assert shared.status_code == 303
    page = (await client.get(settings)).text
    assert "Shared with Bob (editor)." in page
    assert "Revoke bob@example.com" in page
    # Bob sees it in his sidebar, marked shared, with its owner's name.
    assert "shared by Ada" in (await bob.get("/")).text
    revoked = await post_form(
        client, f"/lists/{groceries}/members/{stranger.account_id}/remove", {}
    )
    assert revoked.status_code == 303
    assert (await bob.get(f"/lists/{groceries}")).status_code == 404


async def test_deleting_a_list_asks_first_then_sends_its_tasks_to_the_trash(
    client: Client,
) -> None:
    trip = await make_list(client, "Trip")
    await post_form(client, "/tasks", {"title": "Passport", "list_id": trip})
    settings = (await client.get(f"/lists/{trip}/settings")).text
    assert f'href="/lists/{trip}/settings?confirm=delete"' in settings
    assert f'action="/lists/{trip}/delete"' not in settings
    asking = (await client.get(f"/lists/{trip}/settings", params={"confirm": "delete"})).text
    assert "Delete “Trip”? Its 1 active task goes" in asking
    deleted = await post_form(client, f"/lists/{trip}/delete", {})
    assert deleted.headers["location"] == "/"
    home = (await client.get("/")).text
    assert "Deleted the list “Trip”; its 1 task went to the trash." in home
    assert sidebar(home) == ["All tasks", "Inbox 0"]
    trash = (await client.get("/api/trash")).json()["items"]
    assert [task["title"] for task in trash] == ["Passport"]


async def test_a_viewer_sees_no_controls_and_a_forged_post_gets_403(
    client: Client, bob: httpx.AsyncClient, stranger: Person
) -> None:
    home = await make_list(client, "Home")
    milk = (await client.post("/api/tasks", json={"title": "Milk", "list_id": home})).json()
    await post_form(client, f"/lists/{home}/members", {"email": stranger.email, "role": "viewer"})
    for url in (f"/lists/{home}", "/"):
        page = (await bob.get(url)).text
        assert row_titles(page) == ["Milk"], url
        assert f"/tasks/{milk['id']}/complete" not in page, url
        assert f"/tasks/{milk['id']}/delete" not in page, url
        assert "Edit Milk" not in page, url
    list_page = (await bob.get(f"/lists/{home}")).text
    assert 'id="add-form"' not in list_page
    assert "Mark all as complete" not in list_page
    assert "view only" in list_page
    token = await csrf_token(bob)  # type: ignore[arg-type]
    forged = await post_form(
        bob, f"/tasks/{milk['id']}/complete", {"next": f"/lists/{home}"}, token=token  # type: ignore[arg-type]
    )
    assert forged.status_code == 403
    with_htmx = await bob.post(
        f"/tasks/{milk['id']}/delete",
        data={"next": f"/lists/{home}"},
        headers={**HX, "X-CSRFToken": token},
    )
    assert with_htmx.status_code == 403
    assert "viewer" in with_htmx.text or "not change it" in with_htmx.text
    stored = (await client.get(f"/api/tasks/{milk['id']}")).json()
    assert (stored["completed_at"], stored["deleted_at"], stored["version"]) == (None, None, 1)


async def test_a_member_leaves_a_list_from_its_settings_page(
    client: Client, bob: httpx.AsyncClient, stranger: Person
) -> None:
    home = await make_list(client, "Home")
    await post_form(client, f"/lists/{home}/members", {"email": stranger.email, "role": "editor"})
    settings = (await bob.get(f"/lists/{home}/settings")).text
    assert "Leave this list" in settings
    assert "Rename" not in settings
    token = await csrf_token(bob)  # type: ignore[arg-type]
    left = await post_form(
        bob, f"/lists/{home}/members/{stranger.account_id}/remove", {}, token=token  # type: ignore[arg-type]
    )
    assert left.headers["location"] == "/"
    assert "You left “Home”." in (await bob.get("/")).text
    assert sidebar((await bob.get("/")).text) == ["All tasks", "Inbox 0"]


async def test_a_live_refresh_of_the_sidebar_brings_the_counts_along(client: Client) -> None:
    groceries = await make_list(client, "Groceries")
    await client.post("/api/tasks", json={"title": "Milk", "list_id": groceries})
    response = await client.get(f"/lists/{groceries}", headers={**HX, "HX-Target": "lists-nav"})
    assert part_ids(response) == ["lists-nav", "oob:#counter", "oob:#bulk-actions"]
    assert "Groceries 1" in sidebar(response.text)


async def test_a_live_refresh_of_a_list_that_went_sends_the_browser_to_all_tasks(
    client: Client, bob: httpx.AsyncClient, stranger: Person
) -> None:
    home = await make_list(client, "Home")
    await post_form(client, f"/lists/{home}/members", {"email": stranger.email, "role": "viewer"})
    await client.delete(f"/api/lists/{home}/members/{stranger.account_id}")
    refresh = await bob.get(f"/lists/{home}", headers={**HX, "HX-Target": "listing"})
    assert refresh.status_code == 404
    assert refresh.headers["HX-Redirect"] == "/"
    assert "That list is no longer there" in (await bob.get("/")).text
