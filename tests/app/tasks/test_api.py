"""The JSON API as a client sees it: status codes, headers, bodies, and what the database holds.

Every bad request is also checked to leave the stored data exactly as it was.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.app.problems import assert_problem
from tests.stored import stored_tasks

Client = AsyncTestClient[Litestar]
PURGED = "purged"


async def create(client: Client, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/tasks", json={"title": "a task", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def seeded(client: Client) -> dict[str, str]:
    """A live task, a trashed task and the id of a purged one."""
    live = await create(client, title="live", notes="notes", priority="low")
    trashed = await create(client, title="trashed")
    purged = await create(client, title="purged")
    for task in (trashed, purged):
        assert (await client.delete(f"/api/tasks/{task['id']}")).status_code == 204
    assert (await client.delete(f"/api/trash/{purged['id']}")).status_code == 204
    return {"live": live["id"], "trashed": trashed["id"], PURGED: purged["id"]}


# ------------------------------------------------------------------------------ happy paths


async def test_create_answers_201_with_location_and_etag(client: Client, database_url: str) -> None:
    response = await client.post(
        "/api/tasks",
        json={"title": "  Buy milk ", "notes": "2 l", "priority": "high", "due_date": "2026-12-24"},
    )

    assert response.status_code == 201
    task = response.json()
    assert response.headers["location"] == f"/api/tasks/{task['id']}"
    assert response.headers["etag"] == '"1"'
    assert {k: task[k] for k in ("title", "notes", "priority", "due_date", "version")} == {
        "title": "Buy milk",
        "notes": "2 l",
        "priority": "high",
        "due_date": "2026-12-24",
        "version": 1,
    }
    assert task["completed_at"] is None
    assert task["deleted_at"] is None
    [row] = await stored_tasks(database_url)
    assert str(row["id"]) == task["id"]
    assert row["title"] == "Buy milk"

    fetched = await client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == task
    assert fetched.headers["etag"] == '"1"'


async def test_create_with_only_a_title_takes_the_defaults(client: Client) -> None:
    task = await create(client, title="x")
    assert (task["notes"], task["priority"], task["due_date"]) == ("", "none", None)


async def test_list_filters_sorts_and_pages(client: Client) -> None:
    for title in ("b milk", "a milk", "c bread"):
        await create(client, title=title)
    done = await create(client, title="d milk")
    await client.post(f"/api/tasks/{done['id']}/complete")

    response = await client.get(
        "/api/tasks", params={"q": "milk", "sort": "title", "order": "asc", "limit": 2}
    )
    assert response.status_code == 200
    page = response.json()
    assert [t["title"] for t in page["items"]] == ["a milk", "b milk"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)

    second = (
        await client.get(
            "/api/tasks",
            params={"q": "milk", "sort": "title", "order": "asc", "limit": 2, "offset": 2},
        )
    ).json()
    assert [t["title"] for t in second["items"]] == ["d milk"]

    active = (await client.get("/api/tasks", params={"status": "active"})).json()
    assert sorted(t["title"] for t in active["items"]) == ["a milk", "b milk", "c bread"]
    completed = (await client.get("/api/tasks", params={"status": "completed"})).json()
    assert [t["title"] for t in completed["items"]] == ["d milk"]


async def test_list_defaults_to_50_newest_first(client: Client) -> None:
    for number in range(52):
        await create(client, title=f"task {number:02d}")
    page = (await client.get("/api/tasks")).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (52, 50, 0, 50)
    assert page["items"][0]["title"] == "task 51"


async def test_counts(client: Client, seeded: dict[str, str]) -> None:
    await client.post(f"/api/tasks/{(await create(client))['id']}/complete")
    response = await client.get("/api/tasks/counts")
    assert response.status_code == 200
    assert response.json() == {"active": 1, "completed": 1, "trash": 1}


async def test_patch_changes_the_fields_sent(client: Client, database_url: str) -> None:
    task = await create(client, title="old", notes="keep")
    response = await client.patch(
        f"/api/tasks/{task['id']}", json={"title": "new", "version": 1, "completed": True}
    )
    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'
    body = response.json()
    assert (body["title"], body["notes"], body["version"]) == ("new", "keep", 2)
    assert body["completed_at"] is not None
    [row] = await stored_tasks(database_url)
    assert (row["title"], row["notes"], row["version"]) == ("new", "keep", 2)


async def test_patch_without_a_version_is_applied(client: Client) -> None:
    task = await create(client)
    await client.patch(f"/api/tasks/{task['id']}", json={"notes": "edit 1"})
    response = await client.patch(f"/api/tasks/{task['id']}", json={"notes": "edit 2"})
    assert response.status_code == 200
    assert (response.json()["notes"], response.json()["version"]) == ("edit 2", 3)


@pytest.mark.parametrize("if_match", ['"1"', 'W/"1"', "*"])
async def test_patch_with_a_matching_if_match_is_applied(client: Client, if_match: str) -> None:
    task = await create(client)
    response = await client.patch(
        f"/api/tasks/{task['id']}", json={"title": "changed"}, headers={"If-Match": if_match}
    )
    assert response.status_code == 200
    assert response.json()["title"] == "changed"


async def test_patch_can_clear_the_due_date(client: Client) -> None:
    task = await create(client, due_date="2026-01-31")
    response = await client.patch(f"/api/tasks/{task['id']}", json={"due_date": None})
    assert response.json()["due_date"] is None


async def test_delete_moves_to_the_trash_and_restore_brings_back(
    client: Client, database_url: str
) -> None:
    task = await create(client, title="oops")

    deleted = await client.delete(f"/api/tasks/{task['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    trash = (await client.get("/api/trash")).json()
    assert [t["title"] for t in trash["items"]] == ["oops"]
    assert trash["items"][0]["deleted_at"] is not None
    assert (await client.get("/api/tasks")).json()["items"] == []

    restored = await client.post(f"/api/tasks/{task['id']}/restore")
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    [row] = await stored_tasks(database_url)
    assert row["deleted_at"] is None


async def test_restore_of_a_live_task_is_200_and_changes_nothing(
    client: Client, database_url: str
) -> None:
    task = await create(client)
    before = await stored_tasks(database_url)
    response = await client.post(f"/api/tasks/{task['id']}/restore")
    assert response.status_code == 200
    assert response.json() == task
    assert await stored_tasks(database_url) == before


async def test_complete_and_reopen_are_idempotent(client: Client) -> None:
    task = await create(client)
    first = await client.post(f"/api/tasks/{task['id']}/complete")
    second = await client.post(f"/api/tasks/{task['id']}/complete")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert first.json()["completed_at"] is not None

    reopened = await client.post(f"/api/tasks/{task['id']}/reopen")
    again = await client.post(f"/api/tasks/{task['id']}/reopen")
    assert reopened.status_code == again.status_code == 200
    assert again.json() == reopened.json()
    assert again.json()["completed_at"] is None


async def test_purge_and_empty_trash(client: Client, database_url: str) -> None:
    keep = await create(client, title="keep")
    tasks = [await create(client, title=f"bin {n}") for n in range(3)]
    for task in tasks:
        await client.delete(f"/api/tasks/{task['id']}")

    purged = await client.delete(f"/api/trash/{tasks[0]['id']}")
    assert purged.status_code == 204
    assert len(await stored_tasks(database_url)) == 3

    emptied = await client.delete("/api/trash")
    assert emptied.status_code == 204
    assert [str(row["id"]) for row in await stored_tasks(database_url)] == [keep["id"]]
    assert (await client.get("/api/trash")).json()["total"] == 0


async def test_bulk_actions_report_how_many_changed(client: Client) -> None:
    tasks = [await create(client, title=f"t{n}") for n in range(3)]
    await client.post(f"/api/tasks/{tasks[0]['id']}/complete")

    completed = await client.post("/api/tasks/complete-all")
    assert (completed.status_code, completed.json()) == (200, {"affected": 2})
    reopened = await client.post("/api/tasks/reopen-all")
    assert (reopened.status_code, reopened.json()) == (200, {"affected": 3})
    await client.post(f"/api/tasks/{tasks[1]['id']}/complete")
    cleared = await client.post("/api/tasks/clear-completed")
    assert (cleared.status_code, cleared.json()) == (200, {"affected": 1})
    assert (await client.get("/api/tasks/counts")).json() == {
        "active": 2,
        "completed": 0,
        "trash": 1,
    }


async def test_trash_lists_most_recently_deleted_first(client: Client) -> None:
    tasks = [await create(client, title=t) for t in ("first", "second", "third")]
    for index in (1, 2, 0):
        await client.delete(f"/api/tasks/{tasks[index]['id']}")
    trash = (await client.get("/api/trash")).json()
    assert [t["title"] for t in trash["items"]] == ["first", "third", "second"]
    ascending = (await client.get("/api/trash", params={"order": "asc"})).json()
    assert [t["title"] for t in ascending["items"]] == ["second", "third", "first"]


# ------------------------------------------------------------------------------ 404 and 409/412

ID_ROUTES = [
    ("GET", "/api/tasks/{id}", None),
    ("PATCH", "/api/tasks/{id}", {"title": "x"}),
    ("DELETE", "/api/tasks/{id}", None),
    ("POST", "/api/tasks/{id}/complete", None),
    ("POST", "/api/tasks/{id}/reopen", None),
    ("POST", "/api/tasks/{id}/restore", None),
    ("DELETE", "/api/trash/{id}", None),
]
LIVE_ROUTES = [route for route in ID_ROUTES if not route[1].endswith(("restore", "trash/{id}"))]


async def request(client: Client, method: str, url: str, body: Any = None) -> Response:
    if body is None:
        return await client.request(method, url)
    return await client.request(method, url, json=body)


@pytest.mark.parametrize(
    "task_id",
    [
        "01890000-0000-7000-8000-000000000000",
        "not-a-uuid",
        "123",
        "01890000-0000-7000-8000-00000000000",
        PURGED,
    ],
    ids=["unknown", "word", "number", "short-uuid", "purged"],
)
async def test_unknown_ids_are_404_and_change_nothing(
    client: Client, database_url: str, seeded: dict[str, str], task_id: str
) -> None:
    before = await stored_tasks(database_url)
    for method, route, body in ID_ROUTES:
        url = route.format(id=seeded.get(task_id, task_id))
        response = await request(client, method, url, body)
        assert response.status_code == 404, f"{method} {url}"
        assert_problem(response, 404)
    assert await stored_tasks(database_url) == before


@pytest.mark.parametrize(("method", "route", "body"), LIVE_ROUTES)
async def test_a_trashed_task_is_404_on_live_routes(
    client: Client,
    database_url: str,
    seeded: dict[str, str],
    method: str,
    route: str,
    body: Any,
) -> None:
    before = await stored_tasks(database_url)
    response = await request(client, method, route.format(id=seeded["trashed"]), body)
    assert_problem(response, 404)
    assert "trash" in response.json()["detail"]
    assert await stored_tasks(database_url) == before


async def test_purge_of_a_live_task_is_409_and_changes_nothing(
    client: Client, database_url: str, seeded: dict[str, str]
) -> None:
    before = await stored_tasks(database_url)
    response = await client.delete(f"/api/trash/{seeded['live']}")
    assert_problem(response, 409)
    assert "not in the trash" in response.json()["detail"]
    assert await stored_tasks(database_url) == before


async def test_patch_with_a_stale_version_in_the_body_is_409(
    client: Client, database_url: str
) -> None:
    task = await create(client, title="v1")
    await client.patch(f"/api/tasks/{task['id']}", json={"title": "v2", "version": 1})
    before = await stored_tasks(database_url)

    response = await client.patch(f"/api/tasks/{task['id']}", json={"title": "lost", "version": 1})

    body = assert_problem(response, 409)
    assert body["current_version"] == 2
    assert await stored_tasks(database_url) == before


async def test_patch_with_a_stale_if_match_is_412(client: Client, database_url: str) -> None:
    task = await create(client, title="v1")
    etag = (await client.get(f"/api/tasks/{task['id']}")).headers["etag"]
    changed = await client.patch(
        f"/api/tasks/{task['id']}", json={"title": "v2"}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"2"'
    before = await stored_tasks(database_url)

    response = await client.patch(
        f"/api/tasks/{task['id']}", json={"title": "lost"}, headers={"If-Match": etag}
    )

    body = assert_problem(response, 412)
    assert body["current_version"] == 2
    assert await stored_tasks(database_url) == before


@pytest.mark.parametrize(
    ("if_match", "version", "status"),
    [("*", 1, 409), ('"2"', 1, 409), ('"1"', 2, 412)],
    ids=["any-etag-stale-body", "fresh-etag-stale-body", "stale-etag-fresh-body"],
)
async def test_the_stale_version_decides_between_409_and_412(
    client: Client, database_url: str, if_match: str, version: int, status: int
) -> None:
    task = await create(client)
    await client.patch(f"/api/tasks/{task['id']}", json={"notes": "v2"})
    before = await stored_tasks(database_url)
    response = await client.patch(
        f"/api/tasks/{task['id']}",
        json={"title": "lost", "version": version},
        headers={"If-Match": if_match},
    )
    assert assert_problem(response, status)["current_version"] == 2
    assert await stored_tasks(database_url) == before


# ------------------------------------------------------------------------------ bad input

LONG_TITLE = "t" * 201
LONG_NOTES = "n" * 10_001

BAD_REQUESTS: list[tuple[str, str, str, Any, str | None]] = [
    # (id, method, route, json body, field named)
    ("empty-title", "POST", "/api/tasks", {"title": ""}, "title"),
    ("blank-title", "POST", "/api/tasks", {"title": " \t\n "}, "title"),
    ("long-title", "POST", "/api/tasks", {"title": LONG_TITLE}, "title"),
    ("long-notes", "POST", "/api/tasks", {"title": "ok", "notes": LONG_NOTES}, "notes"),
    ("bad-priority", "POST", "/api/tasks", {"title": "ok", "priority": "urgent"}, "priority"),
    ("bad-date", "POST", "/api/tasks", {"title": "ok", "due_date": "2026-13-01"}, "due_date"),
    ("text-date", "POST", "/api/tasks", {"title": "ok", "due_date": "tomorrow"}, "due_date"),
    ("unknown-field", "POST", "/api/tasks", {"title": "ok", "colour": "red"}, "colour"),
    ("no-title", "POST", "/api/tasks", {"notes": "no title"}, "title"),
    ("number-title", "POST", "/api/tasks", {"title": 5}, "title"),
    ("array-body", "POST", "/api/tasks", ["title"], None),
    ("patch-empty-title", "PATCH", "/api/tasks/{live}", {"title": ""}, "title"),
    ("patch-blank-title", "PATCH", "/api/tasks/{live}", {"title": "   "}, "title"),
    ("patch-long-title", "PATCH", "/api/tasks/{live}", {"title": LONG_TITLE}, "title"),
    ("patch-long-notes", "PATCH", "/api/tasks/{live}", {"notes": LONG_NOTES}, "notes"),
    ("patch-bad-priority", "PATCH", "/api/tasks/{live}", {"priority": "URGENT"}, "priority"),
    ("patch-bad-date", "PATCH", "/api/tasks/{live}", {"due_date": "31/12/2026"}, "due_date"),
    ("patch-unknown-field", "PATCH", "/api/tasks/{live}", {"deleted_at": None}, "deleted_at"),
    ("patch-bad-completed", "PATCH", "/api/tasks/{live}", {"completed": "maybe"}, "completed"),
    ("patch-bad-version", "PATCH", "/api/tasks/{live}", {"version": "one"}, "version"),
    ("limit-0", "GET", "/api/tasks?limit=0", None, "limit"),
    ("limit-101", "GET", "/api/tasks?limit=101", None, "limit"),
    ("limit-word", "GET", "/api/tasks?limit=ten", None, "limit"),
    ("offset-negative", "GET", "/api/tasks?offset=-1", None, "offset"),
    ("bad-status", "GET", "/api/tasks?status=done", None, "status"),
    ("bad-sort", "GET", "/api/tasks?sort=colour", None, "sort"),
    ("bad-order", "GET", "/api/tasks?order=up", None, "order"),
    ("long-search", "GET", "/api/tasks?q=" + "q" * 201, None, "q"),
    ("trash-limit-0", "GET", "/api/trash?limit=0", None, "limit"),
    ("trash-bad-sort", "GET", "/api/trash?sort=colour", None, "sort"),
]


@pytest.mark.parametrize(
    ("method", "route", "body", "field"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
async def test_bad_input_is_400_naming_the_field_and_changes_nothing(
    client: Client,
    database_url: str,
    seeded: dict[str, str],
    method: str,
    route: str,
    body: Any,
    field: str | None,
) -> None:
    before = await stored_tasks(database_url)
    response = await request(client, method, route.format(**seeded), body)
    assert_problem(response, 400, field)
    assert await stored_tasks(database_url) == before


@pytest.mark.parametrize(
    "content",
    [b'{"title": ', b"title=x", b"\xff\xfe", b""],
    ids=["truncated", "form", "not-utf8", "empty"],
)
async def test_a_body_that_is_not_json_is_400(
    client: Client, database_url: str, seeded: dict[str, str], content: bytes
) -> None:
    before = await stored_tasks(database_url)
    for method, url in (("POST", "/api/tasks"), ("PATCH", f"/api/tasks/{seeded['live']}")):
        response = await client.request(
            method, url, content=content, headers={"content-type": "application/json"}
        )
        assert_problem(response, 400)
    assert await stored_tasks(database_url) == before


@pytest.mark.parametrize("if_match", ["garbage", '"unclosed', '"a" "b"', "W/3", "1 2"])
async def test_a_malformed_if_match_is_400(
    client: Client, database_url: str, seeded: dict[str, str], if_match: str
) -> None:
    before = await stored_tasks(database_url)
    response = await client.patch(
        f"/api/tasks/{seeded['live']}", json={"title": "x"}, headers={"If-Match": if_match}
    )
    assert_problem(response, 400, "If-Match")
    assert await stored_tasks(database_url) == before


@pytest.mark.parametrize(
    ("method", "route"), [("POST", "/api/tasks"), ("PATCH", "/api/tasks/{live}")]
)
async def test_a_5_mib_body_is_413_and_changes_nothing(
    client: Client, database_url: str, seeded: dict[str, str], method: str, route: str
) -> None:
    before = await stored_tasks(database_url)
    body = b'{"title": "big", "notes": "' + b"n" * (5 * 1024 * 1024) + b'"}'
    response = await client.request(
        method, route.format(**seeded), content=body, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)
    assert await stored_tasks(database_url) == before


async def test_a_body_just_under_1_mib_reaches_validation(client: Client) -> None:
    body = b'{"title": "big", "notes": "' + b"n" * (1024 * 1024 - 100) + b'"}'
    response = await client.post(
        "/api/tasks", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "notes")


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/api/nowhere", 404),
        ("PUT", "/api/tasks/01890000-0000-7000-8000-000000000000", 405),
        ("DELETE", "/api/tasks", 405),
    ],
)
async def test_routing_errors_on_api_have_the_same_shape(
    client: Client, method: str, url: str, status: int
) -> None:
    assert_problem(await client.request(method, url), status)


async def test_an_unexpected_error_is_a_500_problem_without_internals(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.tasks.service import TaskService

    async def broken(self: TaskService, task_id: UUID) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(TaskService, "purge", broken)
    response = await client.delete("/api/trash/01890000-0000-7000-8000-000000000000")
    body = assert_problem(response, 500)
    assert "secret internals" not in response.text
    assert body["title"] == "Internal Server Error"


@pytest.mark.parametrize("if_match", ['"abc"', '"-1"', 'W/"x", "7"'])
async def test_an_if_match_naming_no_version_of_the_task_fails_its_precondition(
    client: Client, database_url: str, seeded: dict[str, str], if_match: str
) -> None:
    """Well-formed entity-tags that are none of this task's versions: RFC 9110 says 412,
    not 400 (the header is fine; the task is not what the client thinks)."""
    before = await stored_tasks(database_url)
    response = await client.patch(
        f"/api/tasks/{seeded['live']}", json={"title": "x"}, headers={"If-Match": if_match}
    )
    assert assert_problem(response, 412)["current_version"] == 1
    assert await stored_tasks(database_url) == before


async def test_an_if_match_list_naming_the_version_is_applied(
    client: Client, seeded: dict[str, str]
) -> None:
    response = await client.patch(
        f"/api/tasks/{seeded['live']}", json={"title": "x"}, headers={"If-Match": '"9", W/"1"'}
    )
    assert (response.status_code, response.json()["title"]) == (200, "x")
