"""The Dramatiq broker BROKER_URL chooses, with the middleware every job actor needs."""

from __future__ import annotations

from urllib.parse import urlsplit

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, CurrentMessage

from webapp.settings import Settings


def build_broker(settings: Settings) -> dramatiq.Broker:
    """RabbitMQ for amqp://, Redis for redis://, else an in-memory StubBroker."""
    url = settings.broker_url
    scheme = urlsplit(url).scheme
    broker: dramatiq.Broker
    if scheme in ("amqp", "amqps"):
        # Publisher confirms: `send` returns once RabbitMQ has the message.
        broker = RabbitmqBroker(url=url, confirm_delivery=True)
    elif scheme in ("redis", "rediss"):
        broker = RedisBroker(url=url)  # type: ignore[no-untyped-call]
    else:
        broker = StubBroker()
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    return broker


def queue_name(settings: Settings, kind: str) -> str:
    """The broker queue of a kind of job: BROKER_QUEUE_PREFIX then the kind's name."""
    return f"{settings.broker_queue_prefix}{kind}"
