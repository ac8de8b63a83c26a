"""Live updates through Redis (REDIS_URL set): a change made through one app process
reaches a stream held by another, so does one made by a worker process's job; a Redis
that goes away fails no write, and the streams are told to resync once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from litestar import Litestar

from tests.accounts import Person
from tests.live import browser, events, new_list, new_task, share
from tests.needs import REDIS_URL, need
from tests.served import serving
from tests.services.redis_server import PrivateRedis
from tests.services.worker_process import WorkerProcess, queue_prefix
from webapp.app import create_app
from webapp.cache import NullReadCache
from webapp.events.changes import Change
from webapp.events.feed import RedisFeed
from webapp.settings import Settings

pytestmark = pytest.mark.redis
KEEPALIVE = 0.2
BROKER_URL = REDIS_URL.rsplit("/", 1)[0] + "/12"


@pytest.fixture
def prefix() -> Iterator[str]:
    need("redis")
    prefix = f"test:events:{uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def on_redis(settings: Settings, url: str, prefix: str, **more: object) -> Settings:
    return settings.model_copy(
        update={
            "redis_url": url,
            "cache_key_prefix": prefix,
            "events_keepalive_seconds": KEEPALIVE,
            **more,
        }
    )


async def subscribed(app: Litestar) -> None:
    """Wait until the app's one subscription is in place (it starts with the app)."""
    feed = app.state.changes.feed
    assert isinstance(feed, RedisFeed)
    for _ in range(100):
        if feed.subscribed.is_set():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the app did not subscribe to its channel")


async def test_a_change_through_one_process_reaches_a_stream_on_another(
    settings: Settings, person: Person, stranger: Person, prefix: str
) -> None:
    shared_settings = on_redis(settings, REDIS_URL, prefix)
    app_a = create_app(shared_settings, read_cache=NullReadCache())
    app_b = create_app(shared_settings, read_cache=NullReadCache())
    with serving(app_a) as url_a, serving(app_b) as url_b:
        await subscribed(app_a)
        await subscribed(app_b)
        async with browser(url_a, person) as ada, browser(url_b, stranger) as bob:
            shared = await new_list(ada, "Groceries")
            await share(ada, shared, stranger.email, "editor")
            async with events(bob) as bobs:
                await new_task(ada, "Milk", shared)
                event = await bobs.changed()
                assert event.json == {
                    "lists": [shared],
                    "access": False,
                    "resync": False,
                    "origin": "",
                }
                # Each process holds one subscription, however many streams.
                channels = redis.Redis.from_url(REDIS_URL).pubsub_numsub(f"{prefix}changes")
                assert channels == [(f"{prefix}changes".encode(), 2)]


async def test_a_redis_outage_fails_no_write_and_the_streams_resync_after_it(
    settings: Settings, person: Person, prefix: str, private_redis: PrivateRedis
) -> None:
    app = create_app(on_redis(settings, private_redis.url, prefix), read_cache=NullReadCache())
    with serving(app) as url:
        await subscribed(app)
        # Signed in while Redis is up (sessions live there); the stream stays open.
        async with browser(url, person) as ada, events(ada) as stream:
            await new_task(ada, "Milk")
            assert (await stream.changed()).json["resync"] is False
            private_redis.kill()
            # An API write (a token: no session in Redis to read) still succeeds, and
            # this process's own streams still hear of it.
            await new_task(ada, "Bread")
            assert (await stream.changed()).json["resync"] is False
            private_redis.start()
            event = await stream.changed(within=15)
            assert event.json["resync"] is True
            await new_task(ada, "Eggs")
            assert (await stream.changed()).json["resync"] is False


async def test_a_publish_with_redis_down_is_logged_not_raised(prefix: str) -> None:
    feed = RedisFeed("redis://127.0.0.1:1/0", prefix)  # nobody listens there
    await feed.publish(Change.of([uuid4()]))  # no exception
    await feed.close()


async def test_a_job_of_a_worker_process_reaches_the_stream(
    tmp_path: Path, settings: Settings, person: Person, prefix: str
) -> None:
    queues = queue_prefix("events_redis")
    app_settings = on_redis(
        settings, REDIS_URL, prefix, broker_url=BROKER_URL, broker_queue_prefix=queues
    )
    worker = WorkerProcess(
        tmp_path,
        "worker",
        DATABASE_URL=settings.database_url,
        REDIS_URL=REDIS_URL,
        CACHE_KEY_PREFIX=prefix,
        BROKER_URL=BROKER_URL,
        BROKER_QUEUE_PREFIX=queues,
    )
    app = create_app(app_settings, read_cache=NullReadCache())
    try:
        with serving(app) as url:
            await subscribed(app)
            async with browser(url, person) as ada:
                task = await new_task(ada, "Milk")
                assert (await ada.delete(f"/api/tasks/{task}")).status_code == 204
                worker.start()
                async with events(ada) as stream:
                    response = await ada.post("/api/restore-jobs", json={"ids": [task]})
                    assert response.status_code in (201, 202), response.text
                    event = await stream.changed(within=30)
                    assert event.json["resync"] is False
    finally:
        worker.stop()
        client = redis.Redis.from_url(BROKER_URL)
        for key in client.scan_iter(match=f"*{queues}*"):
            client.delete(key)
        client.close()
