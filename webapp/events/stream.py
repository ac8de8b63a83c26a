"""`GET /events`: the live updates of a signed-in browser, as server-sent events.

The contract (what `static/vendor/htmx-ext-sse/sse.min.js` and the templates rely on):

- event `changed`, data `{"lists": ["<uuid>", ...], "access": false, "resync": false,
  "origin": ""}`: something the account sees changed, in those lists (none in particular
  when empty); `access`: who may see a list changed (lists may have appeared or gone);
  `origin`: the page whose request made it (`webapp.events.origin`), "" for none.
- event `changed` with `"resync": true`: changes may have been missed (the browser came
  back with a `Last-Event-ID`, the stream fell behind, or Redis was away): read it all.
- each `changed` has an id; a comment (`: keep-alive`) every EVENTS_KEEPALIVE_SECONDS.

The stream is a page route (the session cookie; anonymous is sent to log in like any
page), out of the request deadline. At each keep-alive it checks the session again and
ends when it has ended (log-out, a password change, the account disabled or deleted).
It also ends when the app stops (the feed closes), so that the browser reconnects to
another replica.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import structlog
from litestar import Request, get
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from webapp.accounts.auth import Authenticator, SignedIn
from webapp.accounts.sessions import SESSION_COOKIE, SESSION_STORE, session_account
from webapp.events.changes import Change
from webapp.events.feed import CLOSED, LocalFeed, Subscription
from webapp.web.deadline import EXEMPT_OPT_KEY
from webapp.web.edges import HEAD_REQUEST
from webapp.web.pages import PageController

log = structlog.get_logger(__name__)

EVENT = "changed"
# How long a browser waits before reconnecting after the stream ends (milliseconds).
RETRY_MS = 2000


def changed(event_id: int, change: Change | None) -> ServerSentEventMessage:
    """A `changed` event: of `change`, or a resync (None)."""
    data = {
        "lists": sorted(str(list_id) for list_id in change.lists) if change else [],
        "access": change.access if change else False,
        "resync": change is None,
        # The page whose request made the change: that page has shown it already.
        "origin": change.origin if change else "",
    }
    return ServerSentEventMessage(data=json.dumps(data), event=EVENT, id=event_id)


def keep_alive() -> ServerSentEventMessage:
    return ServerSentEventMessage(data=None, comment="keep-alive")


async def still_signed_in(request: Request[Any, Any, Any]) -> bool:
    """Whether the session the stream was opened with still stands: stored (not logged out
    or expired), and its account enabled and of the same epoch. Unknown (the store or the
    database fails): yes, the next keep-alive asks again."""
    session_id = request.cookies.get(SESSION_COOKIE)
    named = session_account(request.session) if request.scope.get("session") else None
    if session_id is None or named is None:
        return False
    try:
        if await request.app.stores.get(SESSION_STORE).get(session_id) is None:
            return False
        authenticator: Authenticator = request.app.state.authenticator
        return await authenticator.by_session(*named) is not None
    except Exception as error:  # an outage is not a log-out
        log.warning("live updates: session not checked", error=type(error).__name__)
        return True


async def messages(
    request: Request[Any, Any, Any], subscription: Subscription, *, resync: bool
) -> AsyncIterator[ServerSentEventMessage]:
    keepalive: float = request.app.state.settings.events_keepalive_seconds
    event_id = 0
    # First, at once: the retry delay (and the headers go out with it).
    yield ServerSentEventMessage(data=None, comment="live", retry=RETRY_MS)
    if resync:
        event_id += 1
        yield changed(event_id, None)
    while True:
        item = await subscription.next(keepalive)
        if item is CLOSED:
            return
        if item is None:
            if not await still_signed_in(request):
                return
            yield keep_alive()
            continue
        event_id += 1
        yield changed(event_id, item if isinstance(item, Change) else None)


class LiveEvents(PageController):
    @get("/events", name="events", opt={EXEMPT_OPT_KEY: True})
    async def events(self, request: Request[SignedIn, Any, Any]) -> ServerSentEvent:
        feed: LocalFeed = request.app.state.live_updates
        account = request.user.account.id
        resync = bool(request.headers.get("last-event-id"))
        head = bool(request.scope.get("state", {}).get(HEAD_REQUEST))

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            if head:  # the headers only: a stream that would never end otherwise
                return
            with feed.subscribe(account) as subscription:
                async for message in messages(request, subscription, resync=resync):
                    yield message

        return ServerSentEvent(stream(), headers={"Cache-Control": "no-store"})
