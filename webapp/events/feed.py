"""The feed of live updates: each Change reaches the open streams (`webapp.events.stream`)
of the accounts it names.

- `LocalFeed`: subscribers in this process, one bounded queue each. Alone it is the whole
  feed (REDIS_URL empty: one process, its in-process worker included).
- `RedisFeed` (REDIS_URL set): publishes each change on one Redis pub/sub channel,
  `<CACHE_KEY_PREFIX>changes`, and, in an app process, holds ONE subscription to it that
  hands what arrives to the process's `LocalFeed`. Worker processes only publish.

Failures never reach the writer: a publish that fails (Redis down) is logged, and the
change is still handed to this process's own subscribers. The subscription reconnects by
itself; once it is back every local subscriber gets a RESYNC (changes published
meanwhile are lost, so the pages read everything again).

A subscriber that falls QUEUE_SIZE changes behind gets its queue replaced by one RESYNC
rather than a longer queue; CLOSED ends every stream (the app is stopping).
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any, TypeVar
from uuid import UUID

import structlog
from redis.asyncio import Redis

from webapp.events.changes import Change, Feed

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Changes a subscriber may fall behind before it is told to resync instead.
QUEUE_SIZE = 100
# Deadline of a publish (and its connect): a write waits at most this for Redis.
PUBLISH_TIMEOUT_SECONDS = 0.5
# After a failed publish, publishes skip Redis for this long (writes are not slowed by a
# Redis that is down; the subscriptions resync when it is back).
PUBLISH_BACKOFF_SECONDS = 2.0
# The subscription: how often it checks its connection, and waits before reconnecting.
LISTEN_POLL_SECONDS = 1.0
HEALTH_CHECK_SECONDS = 5
RECONNECT_MIN_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0


class Marker(enum.Enum):
    """What a subscriber may get instead of a Change."""

    RESYNC = "resync"  # changes were lost: read everything again
    CLOSED = "closed"  # the feed is closing: end the stream


RESYNC = Marker.RESYNC
CLOSED = Marker.CLOSED
Item = Change | Marker


def channel_name(prefix: str) -> str:
    return f"{prefix}changes"


def encode(change: Change) -> bytes:
    return json.dumps(
        {
            "accounts": sorted(str(account) for account in change.accounts),
            "lists": sorted(str(list_id) for list_id in change.lists),
            "access": change.access,
            "origin": change.origin,
        }
    ).encode()


def decode(data: bytes | str) -> Change:
    raw = json.loads(data)
    change = Change.of(
        (UUID(account) for account in raw["accounts"]),
        (UUID(list_id) for list_id in raw.get("lists", ())),
        access=bool(raw.get("access", False)),
    )
    return replace(change, origin=str(raw.get("origin", "")))


class Subscription:
    """One stream's queue of what it has to send, bounded. While a RESYNC waits in it,
    changes are not queued: the resync covers them."""

    def __init__(self, account: UUID, size: int = QUEUE_SIZE) -> None:
        self.account = account
        self._queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=size)
        self._resync_queued = False
        self.closed = False

    def offer(self, item: Item) -> None:
        """Queue `item`; a full queue is replaced by one RESYNC (and CLOSED always fits)."""
        if self.closed or (self._resync_queued and item is not CLOSED):
            return
        if item is CLOSED:
            self.closed = True
        try:
            self._queue.put_nowait(item)
            self._resync_queued = self._resync_queued or item is RESYNC
            return
        except asyncio.QueueFull:
            pass
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(RESYNC)
        self._resync_queued = True
        if item is CLOSED:
            self._queue.put_nowait(CLOSED)

    async def next(self, within: float) -> Item | None:
        """The next item, or None if nothing came within `within` seconds."""
        try:
            async with asyncio.timeout(within):
                item = await self._queue.get()
        except TimeoutError:
            return None
        if item is RESYNC:
            self._resync_queued = False
        return item


class LocalFeed:
    """The subscribers of this process, by account."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._by_account: dict[UUID, set[Subscription]] = {}
        self.closed = False

    @contextmanager
    def subscribe(self, account: UUID) -> Iterator[Subscription]:
        subscription = Subscription(account, self.queue_size)
        if self.closed:
            subscription.offer(CLOSED)
        subscribers = self._by_account.setdefault(account, set())
        subscribers.add(subscription)
        try:
            yield subscription
        finally:
            subscribers.discard(subscription)
            if not subscribers:
                self._by_account.pop(account, None)

    def subscribers(self) -> int:
        return sum(len(subscribers) for subscribers in self._by_account.values())

    def deliver(self, change: Change) -> None:
        for account in change.accounts:
            for subscription in list(self._by_account.get(account, ())):
                subscription.offer(change)

    def resync_all(self) -> None:
        self._to_all(RESYNC)

    def _to_all(self, item: Item) -> None:
        for subscribers in list(self._by_account.values()):
            for subscription in list(subscribers):
                subscription.offer(item)

    async def publish(self, change: Change) -> None:
        self.deliver(change)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        """End every stream (CLOSED), now and for whoever subscribes later."""
        self.closed = True
        self._to_all(CLOSED)


class RedisFeed:
    """Changes through Redis pub/sub. With `local` (an app process) it also listens, from
    `start()` to `close()`, and delivers what arrives to `local`."""

    def __init__(self, url: str, prefix: str, local: LocalFeed | None = None) -> None:
        self.url = url
        self.channel = channel_name(prefix)
        self.local = local
        self._publisher = Redis.from_url(
            url,
            socket_timeout=PUBLISH_TIMEOUT_SECONDS,
            socket_connect_timeout=PUBLISH_TIMEOUT_SECONDS,
        )
        self._skip_until = 0.0
        self._listening: asyncio.Task[None] | None = None
        # Set each time the subscription is (again) in place: tests wait for it.
        self.subscribed = asyncio.Event()

    async def publish(self, change: Change) -> None:
        if self.local is not None and time.monotonic() < self._skip_until:
            self.local.deliver(change)
            return
        try:
            await self._publisher.publish(self.channel, encode(change))
        except Exception as error:  # a write must never fail for this
            self._skip_until = time.monotonic() + PUBLISH_BACKOFF_SECONDS
            log.warning(
                "live update not published",
                channel=self.channel,
                error=f"{type(error).__name__}: {error}",
            )
            if self.local is not None:
                self.local.deliver(change)  # at least this process's own pages hear of it

    async def start(self) -> None:
        if self.local is not None and self._listening is None:
            self._listening = asyncio.create_task(self._listen_forever())

    async def _listen_forever(self) -> None:
        assert self.local is not None
        wait = RECONNECT_MIN_SECONDS
        lost = False
        while True:
            client = Redis.from_url(
                self.url,
                socket_connect_timeout=PUBLISH_TIMEOUT_SECONDS * 4,
                health_check_interval=HEALTH_CHECK_SECONDS,
            )
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    if lost:
                        log.info("live updates: subscription back", channel=self.channel)
                        self.local.resync_all()
                        lost = False
                    self.subscribed.set()
                    wait = RECONNECT_MIN_SECONDS
                    while True:
                        message = await pubsub.get_message(timeout=LISTEN_POLL_SECONDS)
                        if message is None or message.get("type") != "message":
                            continue
                        try:
                            change = decode(message["data"])
                        except (ValueError, KeyError, TypeError):
                            log.warning("live updates: unreadable message dropped")
                            continue
                        self.local.deliver(change)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep trying until closed
                self.subscribed.clear()
                if not lost:
                    log.warning(
                        "live updates: subscription lost; retrying",
                        channel=self.channel,
                        error=f"{type(error).__name__}: {error}",
                    )
                lost = True
                await asyncio.sleep(wait)
                wait = min(wait * 2, RECONNECT_MAX_SECONDS)
            finally:
                with suppress(Exception):  # a dead connection: nothing to close
                    await client.aclose()

    async def close(self) -> None:
        if self.local is not None:
            await self.local.close()
        if self._listening is not None:
            self._listening.cancel()
            with suppress(asyncio.CancelledError):
                await self._listening
            self._listening = None
        await self._publisher.aclose()


class OwnerLoopFeed:
    """The app's feed, for the in-process worker, whose jobs run on another event loop:
    each publish runs on the loop that owns the feed (its queues and Redis connection)."""

    def __init__(self, feed: Feed, loop: asyncio.AbstractEventLoop) -> None:
        self._feed = feed
        self._loop = loop

    async def _on_owner(self, call: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, self._loop))

    async def publish(self, change: Change) -> None:
        await self._on_owner(self._feed.publish(change))


def build_feed(redis_url: str, prefix: str) -> LocalFeed | RedisFeed:
    """An app process's feed: Redis pub/sub when REDIS_URL is set, else this process."""
    local = LocalFeed()
    return RedisFeed(redis_url, prefix, local) if redis_url else local
