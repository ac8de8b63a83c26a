"""Liveness (`/health`) and readiness (`/ready`) probes."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from webapp.web.security import PUBLIC

# A probe must answer within the orchestrator's own timeout: a database that accepts the
# connection but never answers counts as down after this long, not after the driver's 10 s.
READY_TIMEOUT_SECONDS = 2.0


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    """`status` is "ready" or "down"; the database is "ok" or "down"; the cache and the
    broker are "ok" or "degraded". Only the database makes the app "down": without Redis
    reads go to the database, and without the broker jobs wait in the database and are
    sent once it is back (a readiness probe that failed on them would take every replica
    out of service for an outage that costs users nothing but speed)."""

    status: str
    database: str
    cache: str
    broker: str


class HealthController(Controller):
    include_in_schema = True
    tags = ["health"]
    opt = PUBLIC

    @get("/health", summary="The process is alive", cache=False)
    async def health(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        summary="Database, cache and broker are reachable",
        description=("503 when the database is down; a cache or broker outage is only 'degraded'."),
        cache=False,
        responses={
            HTTP_503_SERVICE_UNAVAILABLE: ResponseSpec(
                data_container=Readiness,
                description="The database does not answer: take this process out of service.",
                generate_examples=False,
                examples=[
                    Example(
                        summary="Database down",
                        value={
                            "status": "down",
                            "database": "down",
                            "cache": "ok",
                            "broker": "ok",
                        },
                    )
                ],
            )
        },
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
        broker = "ok" if await state.broker_status() == "ok" else "degraded"
        down = database == "down"
        body = Readiness(
            status="down" if down else "ready", database=database, cache=cache, broker=broker
        )
        return Response(body, status_code=HTTP_503_SERVICE_UNAVAILABLE if down else HTTP_200_OK)
