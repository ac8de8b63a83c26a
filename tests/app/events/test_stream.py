"""Live updates in one process (no Redis): GET /events on a served app. Ada shares a list
with Bob; what Ada changes there reaches Bob's stream, and nobody else's; a stream ends
with its session and when the app stops; a browser that comes back is told to resync."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar

from tests.accounts import Person, form_token, make_person
from tests.live import browser, events, new_list, new_task, share
from tests.served import serving
from webapp.app import create_app
from webapp.cache import MemoryReadCache
from webapp.events.changes import Change
from webapp.events.feed import QUEUE_SIZE, LocalFeed
from webapp.settings import Settings

KEEPALIVE = 0.2
ACCOUNT = UUID(int=1)


@pytest.fixture
def live_app(settings: Settings) -> Litestar:
    quick = settings.model_copy(update={"events_keepalive_seconds": KEEPALIVE})
    return create_app(quick, read_cache=MemoryReadCache(ttl_seconds=300))


@pytest.fixture
def base_url(live_app: Litestar) -> Iterator[str]:
    with serving(live_app) as url:
        yield url


async def test_a_change_in_a_shared_list_reaches_the_member_and_nobody_else(
    base_url: str, person: Person, stranger: Person, database_url: str
) -> None:
    cy = await make_person(database_url, "cy@example.com", name="Cy")
    async with (
        browser(base_url, person) as ada,
        browser(base_url, stranger) as bob,
        browser(base_url, cy) as carol,
    ):
        shared = await new_list(ada, "Groceries")
        await share(ada, shared, stranger.email, "editor")
        async with events(bob) as bobs, events(carol) as carols, events(ada) as adas:
            task = await new_task(ada, "Milk", shared)
            event = await bobs.changed()
            assert event.json == {
                "lists": [shared],
                "access": False,
                "resync": False,
                "origin": "",
            }
            assert event.id
            assert (await adas.changed()).json["lists"] == [shared]

            response = await ada.post(f"/api/tasks/{task}/complete")
            assert response.status_code == 200, response.text
            assert (await bobs.changed()).json["lists"] == [shared]
            await carols.nothing_changed(during=3 * KEEPALIVE)


async def test_a_change_names_the_page_it_came_from(
    base_url: str, person: Person, stranger: Person
) -> None:
    """A page's own changes come back to it named as its own (it leaves them alone); a
    page id that is not well formed is ignored."""
    async with browser(base_url, person) as ada, browser(base_url, stranger) as bob:
        shared = await new_list(ada, "Groceries")
        await share(ada, shared, stranger.email, "editor")
        async with events(ada) as adas, events(bob) as bobs:
            body = {"title": "Milk", "list_id": shared}
            await ada.post("/api/tasks", json=body, headers={"X-Page-Id": "page-1"})
            assert (await adas.changed()).json["origin"] == "page-1"
            assert (await bobs.changed()).json["origin"] == "page-1"
            await bob.post("/api/tasks", json=body, headers={"X-Page-Id": "<script>"})
            assert (await adas.changed()).json["origin"] == ""


async def test_sharing_tells_the_new_member_of_the_access(
    base_url: str, person: Person, stranger: Person
) -> None:
    async with browser(base_url, person) as ada, browser(base_url, stranger) as bob:
        shared = await new_list(ada, "Groceries")
        async with events(bob) as bobs:
            await share(ada, shared, stranger.email, "viewer")
            assert (await bobs.changed()).json["access"] is True


async def test_head_answers_at_once_without_a_stream(
    base_url: str, live_app: Litestar, person: Person
) -> None:
    """HEAD is a GET without its body: the headers, and no stream left open after."""
    async with browser(base_url, person) as ada:
        response = await asyncio.wait_for(ada.head("/events"), timeout=5)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await asyncio.sleep(3 * KEEPALIVE)
        assert live_app.state.live_updates.subscribers() == 0


async def test_anonymous_gets_what_other_pages_get(base_url: str) -> None:
    async with browser(base_url) as nobody:
        response = await nobody.get("/events", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")


async def test_log_out_ends_the_stream(base_url: str, person: Person) -> None:
    async with browser(base_url, person) as ada, events(ada) as stream:
        page = await ada.get("/account")
        out = await ada.post(
            "/logout", data={"_csrf_token": form_token(page.text)}, follow_redirects=False
        )
        assert out.status_code == 303
        await stream.ended(within=KEEPALIVE * 10)


async def test_a_password_changed_elsewhere_ends_the_stream(base_url: str, person: Person) -> None:
    async with (
        browser(base_url, person) as laptop,
        browser(base_url, person) as phone,
        events(laptop) as stream,
    ):
        page = await phone.get("/account")
        response = await phone.post(
            "/account/password",
            data={
                "_csrf_token": form_token(page.text),
                "current_password": person.password,
                "new_password": "another horse battery staple",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        # The epoch this process remembers is the new one: at the next keep-alive.
        await stream.ended(within=KEEPALIVE * 10 + 5)


async def test_a_browser_that_comes_back_is_told_to_resync(base_url: str, person: Person) -> None:
    async with browser(base_url, person) as ada, events(ada, last_event_id="7") as stream:
        event = await stream.changed()
        assert event.json == {"lists": [], "access": False, "resync": True, "origin": ""}
        assert event.id
        task = await new_task(ada, "Milk")
        assert task
        assert (await stream.changed()).json["resync"] is False


async def test_the_app_stopping_ends_every_stream(
    live_app: Litestar, base_url: str, person: Person
) -> None:
    async with browser(base_url, person) as ada, events(ada) as stream:
        # What the lifespan's end does first (uvicorn, unlike Granian, would only
        # get there once the streams have ended by themselves).
        feed: LocalFeed = live_app.state.live_updates
        loop = live_app.state.job_queue._app_loop
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(feed.close(), loop))
        await stream.ended(within=1.0)
        response = await ada.get("/api/me")
        assert response.status_code == 200


async def test_a_restore_job_of_the_in_process_worker_reaches_the_stream(
    base_url: str, person: Person
) -> None:
    async with browser(base_url, person) as ada:
        task = await new_task(ada, "Milk")
        assert (await ada.delete(f"/api/tasks/{task}")).status_code == 204
        async with events(ada) as stream:
            response = await ada.post("/api/restore-jobs", json={"ids": [task]})
            assert response.status_code in (201, 202), response.text
            event = await stream.changed()
            assert event.json["resync"] is False


def test_a_subscriber_that_falls_behind_gets_one_resync() -> None:
    async def scenario() -> list[Any]:
        feed = LocalFeed()
        change = Change.of([ACCOUNT])
        with feed.subscribe(ACCOUNT) as subscription:
            for _ in range(QUEUE_SIZE + 5):
                feed.deliver(change)
            got = [await subscription.next(0.01) for _ in range(3)]
            await feed.close()
            got.append(await subscription.next(0.01))
        assert feed.subscribers() == 0
        return got

    got = asyncio.run(scenario())
    assert [str(item) for item in got] == [
        "Marker.RESYNC",
        "None",
        "None",
        "Marker.CLOSED",
    ]


def test_the_stream_is_not_in_the_api_document(live_app: Litestar) -> None:
    paths = live_app.openapi_schema.paths or {}
    assert "/events" not in paths
    assert paths  # the document was read
