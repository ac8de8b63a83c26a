"""Lists and sharing through /api: what each account may see and do, and what the
database holds after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.accounts import Person, alongside, make_person


@pytest.fixture
async def bob(
    running: AsyncTestClient[Litestar], stranger: Person
) -> AsyncIterator[httpx.AsyncClient]:
    async with alongside(running, stranger) as client:
        yield client


@pytest.fixture
async def cy(
    running: AsyncTestClient[Litestar], database_url: str, stranger: Person
) -> AsyncIterator[httpx.AsyncClient]:
    person = await make_person(database_url, "cy@example.com", name="Cy")
    async with alongside(running, person) as client:
        yield client


async def inbox(client: httpx.AsyncClient) -> dict[str, Any]:
    [found] = [item for item in (await client.get("/api/lists")).json() if item["is_inbox"]]
    return dict(found)


async def new_list(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.post("/api/lists", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def new_task(client: httpx.AsyncClient, title: str, list_id: str | None = None) -> Any:
    body: dict[str, Any] = {"title": title}
    if list_id is not None:
        body["list_id"] = list_id
    response = await client.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def titles(client: httpx.AsyncClient, list_id: str | None = None, **params: str) -> set[str]:
    if list_id is not None:
        params["list"] = list_id
    response = await client.get("/api/tasks", params=params)
    assert response.status_code == 200, response.text
    return {task["title"] for task in response.json()["items"]}


async def share(owner: httpx.AsyncClient, list_id: str, email: str, role: str) -> Any:
    response = await owner.post(
        f"/api/lists/{list_id}/members", json={"email": email, "role": role}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_every_account_starts_with_an_inbox_where_new_tasks_go(
    client: httpx.AsyncClient,
) -> None:
    lists = (await client.get("/api/lists")).json()
    assert [(item["name"], item["is_inbox"], item["role"]) for item in lists] == [
        ("Inbox", True, "owner")
    ]
    task = await new_task(client, "Milk")
    assert task["list_id"] == lists[0]["id"]
    assert (await inbox(client))["active"] == 1


async def test_lists_are_made_renamed_with_versions_and_deleted(client: httpx.AsyncClient) -> None:
    made = await new_list(client, "  Groceries ")
    assert made["name"] == "Groceries"
    assert made["version"] == 1
    response = await client.get(f"/api/lists/{made['id']}")
    assert response.headers["ETag"] == '"1"'
    renamed = await client.patch(f"/api/lists/{made['id']}", json={"name": "Food", "version": 1})
    assert renamed.status_code == 200
    assert renamed.json()["version"] == 2
    stale = await client.patch(f"/api/lists/{made['id']}", json={"name": "X", "version": 1})
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    precondition = await client.patch(
        f"/api/lists/{made['id']}", json={"name": "X"}, headers={"If-Match": '"1"'}
    )
    assert precondition.status_code == 412
    assert (await client.get(f"/api/lists/{made['id']}")).json()["name"] == "Food"
    empty = await client.patch(f"/api/lists/{made['id']}", json={"name": "  "})
    assert empty.status_code == 400
    assert (await client.delete(f"/api/lists/{made['id']}")).status_code == 204
    assert (await client.get(f"/api/lists/{made['id']}")).status_code == 404


async def test_the_inbox_can_be_renamed_but_not_deleted(client: httpx.AsyncClient) -> None:
    box = await inbox(client)
    refused = await client.delete(f"/api/lists/{box['id']}")
    assert refused.status_code == 409
    assert "Inbox" in refused.json()["detail"]
    renamed = await client.patch(f"/api/lists/{box['id']}", json={"name": "Desk"})
    assert renamed.json()["name"] == "Desk"
    assert renamed.json()["is_inbox"] is True


async def test_tasks_move_between_lists_and_are_read_per_list(client: httpx.AsyncClient) -> None:
    groceries = await new_list(client, "Groceries")
    milk = await new_task(client, "Milk", groceries["id"])
    await new_task(client, "Call mum")
    assert await titles(client, groceries["id"]) == {"Milk"}
    assert await titles(client) == {"Milk", "Call mum"}
    moved = await client.patch(
        f"/api/tasks/{milk['id']}", json={"list_id": (await inbox(client))["id"]}
    )
    assert moved.status_code == 200
    assert moved.json()["version"] == milk["version"] + 1
    assert await titles(client, groceries["id"]) == set()
    counts = (await client.get("/api/tasks/counts", params={"list": groceries["id"]})).json()
    assert counts["active"] == 0
    counts = (await client.get("/api/tasks/counts")).json()
    assert counts["active"] == 2


async def test_deleting_a_list_trashes_its_tasks_and_restoring_one_puts_it_in_the_inbox(
    client: httpx.AsyncClient,
) -> None:
    trip = await new_list(client, "Trip")
    passport = await new_task(client, "Passport", trip["id"])
    await client.post(f"/api/tasks/{passport['id']}/complete")
    await new_task(client, "Tickets", trip["id"])
    await client.delete(f"/api/lists/{trip['id']}")
    trash = (await client.get("/api/trash")).json()["items"]
    assert {task["title"] for task in trash} == {"Passport", "Tickets"}
    restored = await client.post(f"/api/tasks/{passport['id']}/restore")
    assert restored.status_code == 200
    assert restored.json()["list_id"] == (await inbox(client))["id"]
    assert restored.json()["completed_at"] is not None


async def test_restoring_a_task_of_a_list_that_still_exists_puts_it_back_there(
    client: httpx.AsyncClient,
) -> None:
    trip = await new_list(client, "Trip")
    passport = await new_task(client, "Passport", trip["id"])
    await client.delete(f"/api/tasks/{passport['id']}")
    restored = await client.post(f"/api/tasks/{passport['id']}/restore")
    assert restored.json()["list_id"] == trip["id"]


async def test_a_viewer_reads_a_shared_list_and_every_write_is_refused_with_403(
    client: httpx.AsyncClient, bob: httpx.AsyncClient, stranger: Person
) -> None:
    home = await new_list(client, "Home")
    milk = await new_task(client, "Milk", home["id"])
    member = await share(client, home["id"], stranger.email.upper(), "viewer")
    assert (member["role"], member["account_id"]) == ("viewer", str(stranger.account_id))
    [shared] = [item for item in (await bob.get("/api/lists")).json() if not item["is_inbox"]]
    assert (shared["name"], shared["role"], shared["owner_name"]) == ("Home", "viewer", "Ada")
    assert await titles(bob, home["id"]) == {"Milk"}
    assert (await bob.get(f"/api/tasks/{milk['id']}")).status_code == 200
    writes = [
        bob.post("/api/tasks", json={"title": "Forged", "list_id": home["id"]}),
        bob.patch(f"/api/tasks/{milk['id']}", json={"title": "Forged"}),
        bob.post(f"/api/tasks/{milk['id']}/complete"),
        bob.delete(f"/api/tasks/{milk['id']}"),
        bob.post("/api/tasks/complete-all", params={"list": home["id"]}),
        bob.patch(f"/api/lists/{home['id']}", json={"name": "Mine"}),
        bob.delete(f"/api/lists/{home['id']}"),
        bob.post(f"/api/lists/{home['id']}/members", json={"email": "cy@example.com"}),
    ]
    for write in writes:
        response = await write
        assert response.status_code == 403, response.request.url
        assert response.headers["content-type"] == "application/problem+json"
    task = (await client.get(f"/api/tasks/{milk['id']}")).json()
    assert (task["title"], task["version"], task["completed_at"]) == ("Milk", 1, None)
    assert await titles(client, home["id"]) == {"Milk"}
    assert (await client.get(f"/api/lists/{home['id']}")).json()["name"] == "Home"


async def test_a_stranger_gets_404_for_everything_of_a_list_not_shared_with_them(
    client: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    home = await new_list(client, "Home")
    milk = await new_task(client, "Milk", home["id"])
    for response in [
        await bob.get(f"/api/lists/{home['id']}"),
        await bob.get("/api/tasks", params={"list": home["id"]}),
        await bob.get(f"/api/lists/{home['id']}/members"),
        await bob.get(f"/api/tasks/{milk['id']}"),
        await bob.post("/api/tasks", json={"title": "In", "list_id": home["id"]}),
        await bob.patch(f"/api/lists/{home['id']}", json={"name": "Mine"}),
        await bob.post(f"/api/lists/{home['id']}/members", json={"email": "x@example.com"}),
    ]:
        assert response.status_code == 404, response.request.url
    assert await titles(client, home["id"]) == {"Milk"}


async def test_an_editor_changes_tasks_but_not_the_list_and_sees_its_trash(
    client: httpx.AsyncClient, bob: httpx.AsyncClient, stranger: Person
) -> None:
    home = await new_list(client, "Home")
    milk = await new_task(client, "Milk", home["id"])
    await share(client, home["id"], stranger.email, "editor")
    bread = await new_task(bob, "Bread", home["id"])
    assert bread["list_id"] == home["id"]
    assert (await bob.post(f"/api/tasks/{milk['id']}/complete")).status_code == 200
    assert (await bob.delete(f"/api/tasks/{bread['id']}")).status_code == 204
    # The owner's trash and the editor's both show it; either may restore it.
    for reader in (client, bob):
        trash = (await reader.get("/api/trash")).json()["items"]
        assert [task["title"] for task in trash] == ["Bread"]
    assert (await bob.post(f"/api/tasks/{bread['id']}/restore")).status_code == 200
    assert (await bob.patch(f"/api/lists/{home['id']}", json={"name": "X"})).status_code == 403
    assert (await bob.delete(f"/api/lists/{home['id']}")).status_code == 403
    # Bob's own Inbox stays his: a task moved there is his, out of Ada's sight.
    moved = await bob.patch(f"/api/tasks/{bread['id']}", json={"list_id": (await inbox(bob))["id"]})
    assert moved.status_code == 200
    assert await titles(client) == {"Milk"}


async def test_the_owner_changes_roles_and_revokes_and_a_member_leaves(
    client: httpx.AsyncClient, bob: httpx.AsyncClient, cy: httpx.AsyncClient, stranger: Person
) -> None:
    home = await new_list(client, "Home")
    await new_task(client, "Milk", home["id"])
    await share(client, home["id"], stranger.email, "viewer")
    await share(client, home["id"], "cy@example.com", "editor")
    members = (await client.get(f"/api/lists/{home['id']}/members")).json()
    assert [(m["email"], m["role"]) for m in members] == [
        ("ada@example.com", "owner"),
        (stranger.email, "viewer"),
        ("cy@example.com", "editor"),
    ]
    # Read by Bob once (cached), then made an editor: he may write straight away.
    assert await titles(bob, home["id"]) == {"Milk"}
    bob_id = str(stranger.account_id)
    promoted = await client.patch(
        f"/api/lists/{home['id']}/members/{bob_id}", json={"role": "editor"}
    )
    assert promoted.json()["role"] == "editor"
    assert (await bob.post("/api/tasks", json={"title": "Eggs", "list_id": home["id"]})).is_success
    # Cy may not revoke Bob; the owner may; Bob's cached reads are gone with his access.
    cy_refused = await cy.delete(f"/api/lists/{home['id']}/members/{bob_id}")
    assert cy_refused.status_code == 403
    assert (await client.delete(f"/api/lists/{home['id']}/members/{bob_id}")).status_code == 204
    assert (await bob.get("/api/tasks", params={"list": home["id"]})).status_code == 404
    assert await titles(bob) == set()
    # Cy leaves by removing herself.
    cy_id = members[2]["account_id"]
    assert (await cy.delete(f"/api/lists/{home['id']}/members/{cy_id}")).status_code == 204
    assert [m["role"] for m in (await client.get(f"/api/lists/{home['id']}/members")).json()] == [
        "owner"
    ]
    assert (
        await client.delete(f"/api/lists/{home['id']}/members/{members[0]['account_id']}")
    ).status_code == 409


async def test_sharing_refuses_unknown_emails_oneself_and_twice_and_changes_nothing(
    client: httpx.AsyncClient, stranger: Person
) -> None:
    home = await new_list(client, "Home")
    path = f"/api/lists/{home['id']}/members"
    unknown = await client.post(path, json={"email": "nobody@example.com"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "email"
    not_an_email = await client.post(path, json={"email": "ada at example"})
    assert not_an_email.status_code == 422
    oneself = await client.post(path, json={"email": "ada@example.com"})
    assert oneself.status_code == 400
    bad_role = await client.post(path, json={"email": stranger.email, "role": "owner"})
    assert bad_role.status_code == 400
    await share(client, home["id"], stranger.email, "viewer")
    twice = await client.post(path, json={"email": stranger.email, "role": "editor"})
    assert twice.status_code == 409
    assert [m["role"] for m in (await client.get(path)).json()] == ["owner", "viewer"]


async def test_deleting_a_shared_list_takes_it_from_the_members(
    client: httpx.AsyncClient, bob: httpx.AsyncClient, stranger: Person
) -> None:
    home = await new_list(client, "Home")
    await new_task(client, "Milk", home["id"])
    await share(client, home["id"], stranger.email, "editor")
    assert await titles(bob) == {"Milk"}
    await client.delete(f"/api/lists/{home['id']}")
    assert [item["name"] for item in (await bob.get("/api/lists")).json()] == ["Inbox"]
    assert await titles(bob) == set()
    assert (await bob.get("/api/trash")).json()["items"] == []


async def test_bulk_actions_of_one_list_leave_the_others_alone(client: httpx.AsyncClient) -> None:
    home = await new_list(client, "Home")
    await new_task(client, "Milk", home["id"])
    await new_task(client, "Call mum")
    done = await client.post("/api/tasks/complete-all", params={"list": home["id"]})
    assert done.json() == {"affected": 1}
    assert await titles(client, status="active") == {"Call mum"}
