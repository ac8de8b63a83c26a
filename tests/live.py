"""Live updates for the tests: a served app (a stream needs a real server: the test
client's transport hands over a response only once it has ended), browsers signed in on
it, and a reader of server-sent events with bounded waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.accounts import Person, log_in

WAIT_SECONDS = 5.0


@dataclass
class Event:
    name: str | None = None
    data: str = ""
    id: str | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.data)


class EventStream:
    """The events of one open `GET /events` response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def _event(self) -> Event | None:
        """The next block (an event or comments); None once the stream has ended."""
        event = Event()
        seen = False
        async for line in self._lines:
            if line == "":
                if seen:
                    return event
                continue
            seen = True
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                event.comments.append(value)
            elif name == "event":
                event.name = value
            elif name == "data":
                event.data = f"{event.data}\n{value}" if event.data else value
            elif name == "id":
                event.id = value
        return None

    async def changed(self, within: float = WAIT_SECONDS) -> Event:
        """The next `changed` event (comments skipped); fails after `within` seconds."""
        async with asyncio.timeout(within):
            while True:
                event = await self._event()
                assert event is not None, "the stream ended"
                if event.name == "changed":
                    return event

    async def nothing_changed(self, during: float) -> None:
        """No `changed` event comes for `during` seconds (keep-alives may)."""
        try:
            async with asyncio.timeout(during):
                while True:
                    event = await self._event()
                    assert event is not None, "the stream ended"
                    assert event.name != "changed", event
        except TimeoutError:
            return

    async def ended(self, within: float = WAIT_SECONDS) -> None:
        """The server ends the stream within `within` seconds."""
        async with asyncio.timeout(within):
            while await self._event() is not None:
                pass


@asynccontextmanager
async def browser(base_url: str, person: Person | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on the served app, logged in as `person` (and sending their token)."""
    async with httpx.AsyncClient(
        base_url=base_url, follow_redirects=True, timeout=WAIT_SECONDS
    ) as client:
        if person is not None:
            await log_in(client, person)
            client.headers.update(person.bearer)
        yield client


@asynccontextmanager
async def events(
    client: httpx.AsyncClient, last_event_id: str | None = None
) -> AsyncIterator[EventStream]:
    """`GET /events`, open until the block ends; entered once the stream is subscribed
    (its first comment has arrived)."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with client.stream(
        "GET", "/events", headers=headers, timeout=httpx.Timeout(WAIT_SECONDS, read=None)
    ) as response:
        assert response.status_code == 200, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = EventStream(response)
        async with asyncio.timeout(WAIT_SECONDS):
            first = await stream._event()
        assert first is not None
        assert first.comments == ["live"], first
        yield stream


async def new_list(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/api/lists", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def share(owner: httpx.AsyncClient, list_id: str, email: str, role: str) -> None:
    response = await owner.post(
        f"/api/lists/{list_id}/members", json={"email": email, "role": role}
    )
    assert response.status_code == 201, response.text


async def new_task(client: httpx.AsyncClient, title: str, list_id: str | None = None) -> str:
    body: dict[str, Any] = {"title": title}
    if list_id is not None:
        body["list_id"] = list_id
    response = await client.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
