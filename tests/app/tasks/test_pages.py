"""The HTML pages: full pages for browsers, only the changed partials for htmx, 303 with a
one-time message without JS, CSRF, escaping and malformed posts."""

from __future__ import annotations

import re

import pytest

from tests.app.forms import (
    HX,
    Client,
    add_task,
    counter,
    csrf_token,
    live_titles,
    part_ids,
    post_form,
    row_titles,
    stored,
    trash_titles,
)

# ---------------------------------------------------------------- pages


async def test_list_page_is_a_whole_page_with_rows_counter_and_filters(client: Client) -> None:
    await add_task(client, "Buy milk")
    done = await add_task(client, "Walk the dog")
    await client.post(f"/api/tasks/{done['id']}/complete")

    page = await client.get("/")

    assert page.status_code == 200
    assert page.text.startswith("<!doctype html>")
    assert page.headers["vary"] == "HX-Request"
    assert row_titles(page.text) == ["Walk the dog", "Buy milk"]
    assert counter(page.text) == "1 item left"
    assert 'href="/?filter=active"' in page.text
    assert 'href="/?filter=completed"' in page.text
    assert "Clear completed" in page.text
    assert re.search(r'id="toggle-[^"]+"[^>]* aria-checked="true"', page.text)


@pytest.mark.parametrize(
    ("url", "titles", "current"),
    [
        ("/", ["Walk the dog", "Buy milk"], "All"),
        ("/?filter=active", ["Buy milk"], "Active"),
        ("/?filter=completed", ["Walk the dog"], "Completed"),
        ("/?filter=nonsense", ["Walk the dog", "Buy milk"], "All"),
        ("/?q=MILK", ["Buy milk"], "All"),
        ("/?filter=completed&q=milk", [], "Completed"),
    ],
)
async def test_filters_and_search_are_real_urls(
    client: Client, url: str, titles: list[str], current: str
) -> None:
    await add_task(client, "Buy milk")
    done = await add_task(client, "Walk the dog")
    await client.post(f"/api/tasks/{done['id']}/complete")

    page = await client.get(url)

    assert row_titles(page.text) == titles
    assert re.search(rf'aria-current="page">{current}</a>', page.text)


async def test_counter_says_items_left_in_english(client: Client) -> None:
    assert counter((await client.get("/")).text) == "0 items left"
    await add_task(client, "One")
    assert counter((await client.get("/")).text) == "1 item left"
    await add_task(client, "Two")
    assert counter((await client.get("/")).text) == "2 items left"


async def test_htmx_filter_gets_only_the_listing_and_the_filter_links(client: Client) -> None:
    await add_task(client, "Buy milk")

    response = await client.get("/?filter=active&q=milk", headers=HX)

    assert response.headers["vary"] == "HX-Request"
    assert part_ids(response) == ["listing", "oob:#filters"]
    assert row_titles(response.text) == ["Buy milk"]
    # The filter links keep the search, and the search form keeps the filter.
    assert 'href="/?filter=completed&amp;q=milk"' in response.text
    assert 'name="filter" value="active" form="search"' in response.text


async def test_a_history_restore_gets_the_whole_page(client: Client) -> None:
    response = await client.get("/", headers={**HX, "HX-History-Restore-Request": "true"})
    assert response.text.startswith("<!doctype html>")


async def test_clear_completed_is_hidden_when_nothing_is_completed(client: Client) -> None:
    await add_task(client, "Buy milk")
    page = await client.get("/")
    assert "Clear completed" not in page.text
    assert "Mark all as complete" in page.text


# ---------------------------------------------------------------- add


async def test_add_without_js_answers_303_back_to_the_page(client: Client) -> None:
    response = await post_form(client, "/tasks", {"title": "  Buy milk ", "next": "/?q=milk"})

    assert response.status_code == 303
    assert response.headers["location"] == "/?q=milk"
    assert await live_titles(client) == ["Buy milk"]


async def test_add_with_htmx_returns_the_cleared_form_the_row_and_the_counter(
    client: Client,
) -> None:
    response = await post_form(client, "/tasks", {"title": "Buy milk", "next": "/"}, htmx=True)

    assert response.status_code == 200
    assert part_ids(response) == [
        "add-form",
        "oob:#counter",
        "oob:#bulk-actions",
        "oob:#lists-nav",
        "oob:#tasks",
    ]
    assert 'id="new-title" name="title" value=""' in response.text
    assert row_titles(response.text) == ["Buy milk"]
    assert counter(response.text) == "1 item left"


async def test_add_under_a_filter_that_hides_it_says_so_instead_of_showing_a_row(
    client: Client,
) -> None:
    response = await post_form(
        client, "/tasks", {"title": "Buy milk", "next": "/?filter=completed"}, htmx=True
    )

    assert part_ids(response) == [
        "add-form",
        "oob:#counter",
        "oob:#bulk-actions",
        "oob:#lists-nav",
        "oob:#toasts",
    ]
    assert "the current view does not show it" in response.text


@pytest.mark.parametrize("htmx", [True, False])
async def test_add_with_an_empty_title_shows_the_error_and_keeps_the_text(
    client: Client, htmx: bool
) -> None:
    response = await post_form(client, "/tasks", {"title": "   ", "next": "/"}, htmx=htmx)

    assert response.status_code == 422
    assert 'id="new-title-error" class="field-error">The title must not be empty.' in response.text
    assert 'name="title" value="   "' in response.text
    assert 'aria-invalid="true" aria-describedby="new-title-error"' in response.text
    if htmx:
        assert part_ids(response) == ["add-form"]
    else:
        assert response.text.startswith("<!doctype html>")
    assert await live_titles(client) == []


@pytest.mark.parametrize(
    "data",
    [
        {"title": "x" * 10_000},
        {},  # no title field at all
        {"title": "\n\t "},
    ],
)
async def test_malformed_add_posts_are_4xx_and_change_nothing(
    client: Client, data: dict[str, str]
) -> None:
    for htmx in (True, False):
        response = await post_form(client, "/tasks", data, htmx=htmx)
        assert response.status_code == 422
        assert "field-error" in response.text
    assert await live_titles(client) == []


# ---------------------------------------------------------------- toggle, bulk


async def test_toggle_with_htmx_returns_the_row_and_the_out_of_band_counter(
    client: Client,
) -> None:
    task = await add_task(client, "Buy milk")

    response = await post_form(client, f"/tasks/{task['id']}/complete", {"next": "/"}, htmx=True)

    assert part_ids(response) == [
        f"task-{task['id']}",
        "oob:#counter",
        "oob:#bulk-actions",
        "oob:#lists-nav",
    ]
    assert 'aria-checked="true"' in response.text
    assert counter(response.text) == "0 items left"
    assert "Clear completed" in response.text
    assert (await stored(client, task["id"]) or {})["completed_at"] is not None

    response = await post_form(client, f"/tasks/{task['id']}/reopen", {"next": "/"}, htmx=True)
    assert 'aria-checked="false"' in response.text
    assert counter(response.text) == "1 item left"


async def test_completing_under_the_active_filter_removes_the_row(client: Client) -> None:
    task = await add_task(client, "Buy milk")

    response = await post_form(
        client, f"/tasks/{task['id']}/complete", {"next": "/?filter=active"}, htmx=True
    )

    assert part_ids(response) == ["oob:#counter", "oob:#bulk-actions", "oob:#lists-nav"]


async def test_toggle_without_js_answers_303(client: Client) -> None:
    task = await add_task(client, "Buy milk")
    response = await post_form(client, f"/tasks/{task['id']}/complete", {"next": "/?filter=active"})
    assert response.status_code == 303
    assert response.headers["location"] == "/?filter=active"
    assert (await stored(client, task["id"]) or {})["completed_at"] is not None


async def test_mark_all_and_clear_completed(client: Client) -> None:
    await add_task(client, "One")
    await add_task(client, "Two")

    response = await post_form(client, "/tasks/complete-all", {"next": "/"}, htmx=True)
    assert part_ids(response) == ["listing", "oob:#counter", "oob:#bulk-actions", "oob:#lists-nav"]
    assert counter(response.text) == "0 items left"
    assert response.text.count('aria-checked="true"') == 2

    response = await post_form(client, "/tasks/clear-completed", {"next": "/"}, htmx=True)
    assert part_ids(response) == [
        "listing",
        "oob:#counter",
        "oob:#bulk-actions",
        "oob:#lists-nav",
        "oob:#toasts",
    ]
    assert "Moved 2 completed tasks to the trash." in response.text
    assert "Clear completed" not in response.text
    assert await live_titles(client) == []
    assert sorted(await trash_titles(client)) == ["One", "Two"]


# ---------------------------------------------------------------- delete, undo, trash


async def test_delete_with_htmx_removes_the_row_and_offers_undo(client: Client) -> None:
    task = await add_task(client, "Buy milk")

    response = await post_form(client, f"/tasks/{task['id']}/delete", {"next": "/"}, htmx=True)

    # No main content: swapped over the row, it removes it.
    assert part_ids(response) == [
        "oob:#counter",
        "oob:#bulk-actions",
        "oob:#lists-nav",
        "oob:#toasts",
    ]
    assert "Task deleted" in response.text
    assert f'action="/tasks/{task["id"]}/restore"' in response.text
    assert await trash_titles(client) == ["Buy milk"]


async def test_delete_without_js_redirects_with_a_one_time_undo_offer(client: Client) -> None:
    task = await add_task(client, "Buy milk")

    response = await post_form(client, f"/tasks/{task['id']}/delete", {"next": "/?filter=active"})
    assert response.status_code == 303
    assert response.headers["location"] == "/?filter=active"

    page = await client.get("/?filter=active")
    assert "Task deleted" in page.text
    undo = re.search(r'<form method="post" action="(/tasks/[^"]+/restore)"', page.text)
    assert undo
    assert undo[1] == f"/tasks/{task['id']}/restore"
    assert "Task deleted" not in (await client.get("/?filter=active")).text

    response = await post_form(client, undo[1], {"next": "/?filter=active"})
    assert response.status_code == 303
    assert await live_titles(client) == ["Buy milk"]


async def test_undo_restores_the_task_in_its_old_place(client: Client) -> None:
    for title in ("First", "Second", "Third"):
        await add_task(client, title)
    second = next(t for t in (await client.get("/api/tasks")).json()["items"])
    before = row_titles((await client.get("/")).text)
    await post_form(client, f"/tasks/{second['id']}/delete", {"next": "/"}, htmx=True)

    response = await post_form(client, f"/tasks/{second['id']}/restore", {"next": "/"}, htmx=True)

    assert part_ids(response) == [
        "listing",
        "oob:#counter",
        "oob:#bulk-actions",
        "oob:#lists-nav",
        "oob:#toasts",
    ]
    assert row_titles(response.text) == before
    assert "Task restored" in response.text
    # Focus goes back to the restored task.
    assert re.search(rf'id="toggle-{second["id"]}"[^>]* autofocus', response.text)


async def test_trash_lists_newest_deleted_first(client: Client) -> None:
    first = await add_task(client, "Deleted first")
    second = await add_task(client, "Deleted second")
    await client.delete(f"/api/tasks/{first['id']}")
    await client.delete(f"/api/tasks/{second['id']}")

    page = await client.get("/trash")

    assert re.findall(r'<span class="title">([^<]*)</span>', page.text) == [
        "Deleted second",
        "Deleted first",
    ]
    assert 'aria-label="Restore Deleted second"' in page.text
    assert 'aria-label="Delete Deleted second forever"' in page.text


async def test_restore_and_purge_from_the_trash(client: Client) -> None:
    keep = await add_task(client, "Keep me")
    drop = await add_task(client, "Drop me")
    await client.delete(f"/api/tasks/{keep['id']}")
    await client.delete(f"/api/tasks/{drop['id']}")

    response = await post_form(
        client, f"/tasks/{keep['id']}/restore", {"next": "/trash"}, htmx=True
    )
    assert part_ids(response) == ["oob:#empty-trash", "oob:#toasts"]
    assert "Restored “Keep me”." in response.text

    response = await post_form(client, f"/trash/{drop['id']}/purge", {"next": "/trash"})
    assert response.status_code == 303
    assert response.headers["location"] == "/trash"
    assert "Task deleted forever." in (await client.get("/trash")).text

    assert await live_titles(client) == ["Keep me"]
    assert await trash_titles(client) == []


async def test_empty_trash_asks_first_even_without_js(client: Client) -> None:
    for title in ("One", "Two"):
        task = await add_task(client, title)
        await client.delete(f"/api/tasks/{task['id']}")

    page = await client.get("/trash")
    assert 'href="/trash?confirm=empty"' in page.text
    assert 'action="/trash/empty"' not in page.text

    confirm = await client.get("/trash?confirm=empty")
    assert "Delete all 2 tasks in the trash forever?" in confirm.text
    assert 'action="/trash/empty"' in confirm.text

    partial = await client.get("/trash?confirm=empty", headers={**HX, "HX-Target": "empty-trash"})
    assert part_ids(partial) == ["empty-trash"]
    assert "Delete 2 tasks forever" in partial.text

    response = await post_form(client, "/trash/empty", {"next": "/trash"}, htmx=True)
    assert part_ids(response) == ["trash-listing", "oob:#empty-trash", "oob:#toasts"]
    assert "Trash emptied: 2 tasks deleted forever." in response.text
    assert await trash_titles(client) == []


# ---------------------------------------------------------------- edit


async def test_edit_form_with_htmx_and_without_js(client: Client) -> None:
    task = await add_task(client, "Buy milk", notes="Semi-skimmed", priority="high")

    partial = await client.get(
        f"/tasks/{task['id']}/edit", headers={**HX, "HX-Current-URL": "http://testserver.local/"}
    )
    assert part_ids(partial) == [f"task-{task['id']}"]
    assert 'name="version" value="1"' in partial.text
    assert 'name="title" value="Buy milk"' in partial.text
    assert '<option value="high" selected>' in partial.text

    page = await client.get(f"/?edit={task['id']}")
    assert page.text.startswith("<!doctype html>")
    assert f'action="/tasks/{task["id"]}"' in page.text
    assert ">Semi-skimmed</textarea>" in page.text

    cancel = await client.get(f"/tasks/{task['id']}", headers=HX)
    assert part_ids(cancel) == [f"task-{task['id']}"]
    assert row_titles(cancel.text) == ["Buy milk"]


async def test_save_changes_every_field_of_the_edit_form(client: Client) -> None:
    task = await add_task(client, "Buy milk")

    response = await post_form(
        client,
        f"/tasks/{task['id']}",
        {
            "title": " Buy oat milk ",
            "notes": "Two cartons",
            "priority": "medium",
            "due_date": "2026-12-24",
            "version": "1",
            "next": "/",
        },
        htmx=True,
    )

    assert part_ids(response) == [f"task-{task['id']}"]
    assert row_titles(response.text) == ["Buy oat milk"]
    saved = await stored(client, task["id"]) or {}
    assert (saved["title"], saved["notes"], saved["priority"], saved["due_date"]) == (
        "Buy oat milk",
        "Two cartons",
        "medium",
        "2026-12-24",
    )

    response = await post_form(
        client,
        f"/tasks/{task['id']}",
        {"title": "Buy milk", "due_date": "", "version": "2", "next": "/?q=oat"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/?q=oat"
    saved = await stored(client, task["id"]) or {}
    assert (saved["title"], saved["due_date"], saved["priority"]) == ("Buy milk", None, "medium")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": "   ", "version": "1"}, "The title must not be empty."),
        ({"version": "1"}, "The title must not be empty."),
        ({"title": "x" * 201, "version": "1"}, "The title must be at most 200 characters"),
        ({"title": "Ok", "due_date": "2026-13-45", "version": "1"}, "must be a date like"),
        ({"title": "Ok", "priority": "urgent", "version": "1"}, "must be one of none, low"),
        ({"title": "Ok"}, "lost track of the task&#39;s version"),
        ({"title": "Ok", "version": "one"}, "lost track of the task&#39;s version"),
    ],
)
async def test_malformed_edits_are_refused_and_change_nothing(
    client: Client, data: dict[str, str], message: str
) -> None:
    task = await add_task(client, "Buy milk")

    for htmx in (True, False):
        response = await post_form(client, f"/tasks/{task['id']}", data, htmx=htmx)
        assert response.status_code == 422
        assert message in response.text
        # What was typed is kept.
        if "title" in data and len(data["title"]) < 100:
            assert f'name="title" value="{data["title"]}"' in response.text

    saved = await stored(client, task["id"]) or {}
    assert (saved["title"], saved["version"]) == ("Buy milk", 1)


async def test_a_stale_edit_is_refused_with_a_clear_message(client: Client) -> None:
    task = await add_task(client, "Buy milk")
    await client.patch(f"/api/tasks/{task['id']}", json={"title": "Buy bread"})

    response = await post_form(
        client,
        f"/tasks/{task['id']}",
        {"title": "Buy cheese", "version": "1", "next": "/"},
        htmx=True,
    )

    assert response.status_code == 409
    assert "Someone else changed this task while you were editing it" in response.text
    assert 'name="title" value="Buy cheese"' in response.text
    assert (await stored(client, task["id"]) or {})["title"] == "Buy bread"


# ---------------------------------------------------------------- errors


async def test_a_task_that_is_gone_gets_404_and_a_toast_for_htmx(client: Client) -> None:
    missing = "01900000-0000-7000-8000-000000000000"

    response = await post_form(client, f"/tasks/{missing}/complete", {"next": "/"}, htmx=True)
    assert response.status_code == 404
    assert response.headers["hx-reswap"] == "none"
    assert part_ids(response) == ["oob:#toasts"]
    assert "That task no longer exists" in response.text

    response = await post_form(client, f"/tasks/{missing}/delete", {"next": "/"})
    assert response.status_code == 404
    assert response.text.startswith("<!doctype html>")
    assert "That task no longer exists" in response.text


@pytest.mark.parametrize(
    "url", ["/tasks/not-a-uuid/complete", "/tasks/123/delete", "/trash/x/purge"]
)
async def test_an_id_that_is_not_a_uuid_gets_404(client: Client, url: str) -> None:
    response = await post_form(client, url, {"next": "/"})
    assert response.status_code == 404


async def test_a_repeated_form_field_is_a_clear_400(client: Client) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/tasks",
        content=f"title=a&title=b&_csrf_token={token}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert await live_titles(client) == []


@pytest.mark.parametrize(
    ("next_", "location"),
    [
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/trash", "/trash"),
    ],
)
async def test_redirects_stay_on_this_site(client: Client, next_: str, location: str) -> None:
    response = await post_form(client, "/tasks", {"title": "Buy milk", "next": next_})
    assert response.status_code == 303
    assert response.headers["location"] == location


async def test_titles_are_escaped(client: Client) -> None:
    await add_task(client, "<img src=x onerror=alert(1)>", notes='"><script>alert(2)</script>')

    page = await client.get("/")

    assert "<img src=x" not in page.text
    assert "<script>alert" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert 'aria-label="Delete &lt;img src=x onerror=alert(1)&gt;"' in page.text


async def test_trash_offers_bulk_restore_of_the_checked_rows(client: Client) -> None:
    task = await add_task(client, "Pick me")
    await client.delete(f"/api/tasks/{task['id']}")

    page = await client.get("/trash")

    form = re.search(r'<form id="bulk-restore"[^>]*>', page.text)
    assert form
    assert 'action="/restore-jobs"' in form[0]
    assert f'name="ids" value="{task["id"]}" aria-label="Select Pick me"' in page.text
    assert ">Restore selected</button>" in page.text
    assert 'name="all" value="true"' in page.text
    assert 'hx-trigger="restore-finished from:body"' in page.text


async def test_trash_refresh_after_a_bulk_restore_brings_its_controls(client: Client) -> None:
    task = await add_task(client, "Back soon")
    await client.delete(f"/api/tasks/{task['id']}")
    await client.post(f"/api/tasks/{task['id']}/restore")

    refreshed = await client.get("/trash", headers={**HX, "HX-Target": "trash-listing"})

    assert refreshed.status_code == 200
    assert part_ids(refreshed) == ["trash-listing", "oob:#empty-trash", "oob:#bulk-restore-actions"]
    # The trash is empty now: no restore buttons and no "Empty trash…" link are left.
    assert "Restore all" not in refreshed.text
    assert "Empty trash" not in refreshed.text
