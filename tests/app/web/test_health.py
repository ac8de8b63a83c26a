"""Liveness and readiness probes, with the database up, refused, and silent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.databases import make_settings
from webapp.app import create_app
from webapp.db import create_engine
from webapp.web import health

Client = AsyncTestClient[Litestar]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def client_without_database() -> AsyncIterator[Client]:
    """The app configured for a MariaDB on a port where nothing listens."""
    settings = make_settings(f"mysql+asyncmy://root@127.0.0.1:{free_port()}/tasks")
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


@pytest.fixture
def silent_database_port() -> Iterator[int]:
    """A port that accepts connections and then never says a word (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


async def test_health_says_the_process_is_alive(client: Client) -> None:
    response = await client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_when_the_database_answers(client: Client) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"]) == ("ready", "ok")
    assert set(body) == {"status", "database", "cache", "broker"}


async def test_ready_is_503_naming_the_database_when_it_is_unreachable(
    client_without_database: Client,
) -> None:
    response = await client_without_database.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"]) == ("down", "down")
    # Liveness does not depend on the database: restarting the process would not help.
    assert (await client_without_database.get("/health")).status_code == 200


async def test_ready_gives_up_on_a_database_that_never_answers(
    app: Litestar,
    client: Client,
    silent_database_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Swapped in after start-up: the probe is what is under test, not the app's start.
    silent = make_settings(f"mysql+asyncmy://root@127.0.0.1:{silent_database_port}/tasks")
    monkeypatch.setattr(app.state, "db_engine", create_engine(silent, pooled=False))
    monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 0.2)
    # Without the probe's own limit the driver would wait for the handshake for ever.
    response = await asyncio.wait_for(client.get("/ready"), timeout=8)
    assert response.status_code == 503
    assert response.json()["database"] == "down"
