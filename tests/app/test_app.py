"""The app factory: what an app holds is released when it stops."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from webapp.app import create_app
from webapp.settings import Settings


async def test_every_app_closes_its_database_connections_when_it_stops(
    settings: Settings,
) -> None:
    # The first app of a process was always cleaned up by advanced-alchemy's plugin; the
    # later ones (each test's) kept a pooled connection open: MariaDB ran out of them.
    for _ in range(3):
        app = create_app(settings)
        async with AsyncTestClient(app=app) as client:
            assert (await client.get("/ready")).status_code == 200
            engine: AsyncEngine = app.state.db_engine
            assert engine.pool.checkedin() >= 1  # type: ignore[attr-defined]
        assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
