"""Liveness (`/health`) and readiness (`/ready`) probes."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# A probe must answer within the orchestrator's own timeout: a database that accepts the
# connection but never answers counts as down after this long, not after the driver's 10 s.
READY_TIMEOUT_SECONDS = 2.0


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    """`status` is "ready" or "down"; the database and broker are "ok" or "down", the
    cache "ok" or "degraded" (a cache outage alone never makes the app "down")."""

    status: str
    database: str
    cache: str
    broker: str


class HealthController(Controller):
    include_in_schema = True
    tags = ["health"]

    @get("/health", summary="The process is alive", cache=False)
    async def health(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        summary="Database, cache and broker are reachable",
        description="503 when the database or broker is down; a down cache is only 'degraded'.",
        cache=False,
    )
    async def ready(self, state: State) -> Response[Readiness]:
        engine: AsyncEngine = state.db_engine
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS), engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            database = "ok"
        except Exception:
            database = "down"
        cache = "ok" if await state.read_cache.ping() else "degraded"
        broker = await state.broker_status()
        down = database == "down" or broker == "down"
        body = Readiness(
            status="down" if down else "ready", database=database, cache=cache, broker=broker
        )
        return Response(body, status_code=HTTP_503_SERVICE_UNAVAILABLE if down else HTTP_200_OK)
