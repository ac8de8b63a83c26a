"""The database fails under load: kill -9 and restart, or SIGSTOP and SIGCONT.

Goals (the issue's): while MariaDB is down every answer is a success or a complete
problem+json 503 with Retry-After, never a hang past the client's timeout; within 2 s of
it being back every request succeeds; no acknowledged write is lost or stored twice.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from tests.faults.dependencies import PrivateMariaDB, PrivateRedis
from tests.faults.load import Load
from tests.faults.scenario import Scenario, Window, record_and_check, run_scenario
from tests.faults.servers import AppServer, Launcher

pytestmark = pytest.mark.faults

KILL_SECONDS = 5.0
# The issue measured a 40 s stop (past the pool's 30 s checkout timeout, when the waiting
# requests fail all at once); CI uses a shorter one. FAULTS_SIGSTOP_SECONDS=40 measures
# that case again, recorded under a name of its own.
STOP_SECONDS = float(os.environ.get("FAULTS_SIGSTOP_SECONDS", "12"))


async def start_app(launcher: Launcher, mariadb: PrivateMariaDB, redis: PrivateRedis) -> AppServer:
    """The app as in the cluster (a Redis read cache), jobs in-process (none are run)."""
    return await launcher.app(
        DATABASE_URL=mariadb.database_url, REDIS_URL=redis.url(1), BROKER_URL=""
    )


async def test_mariadb_killed_and_restarted(
    mariadb: PrivateMariaDB, redis_server: PrivateRedis, launcher: Launcher
) -> None:
    app = await start_app(launcher, mariadb, redis_server)
    scenario = Scenario(
        name="mariadb-sigkill",
        description=f"MariaDB kill -9, restarted {KILL_SECONDS:.0f} s later on its data",
        dependency="MariaDB",
        outage_seconds=KILL_SECONDS,
    )

    async def inject(load: Load) -> Window:
        fault_at = time.monotonic()
        mariadb.kill()
        await asyncio.sleep(KILL_SECONDS)
        restarted_at = time.monotonic()
        mariadb.start()
        back_at = await mariadb.wait_ready()
        return Window(fault_at, back_at, {"restart_s": round(back_at - restarted_at, 3)})

    figures = await run_scenario(
        scenario,
        base_url=app.base_url,
        database_url=mariadb.database_url,
        app_log=app.log_path,
        logs=lambda: [*launcher.logs(), mariadb.log_path],
        inject=inject,
    )
    record_and_check(figures)


async def test_mariadb_stopped_and_continued(
    mariadb: PrivateMariaDB, redis_server: PrivateRedis, launcher: Launcher
) -> None:
    app = await start_app(launcher, mariadb, redis_server)
    scenario = Scenario(
        name="mariadb-sigstop" + ("" if STOP_SECONDS == 12 else f"-{STOP_SECONDS:.0f}s"),
        description=f"MariaDB SIGSTOP for {STOP_SECONDS:.0f} s, then SIGCONT",
        dependency="MariaDB",
        outage_seconds=STOP_SECONDS,
    )

    async def inject(load: Load) -> Window:
        fault_at = time.monotonic()
        mariadb.pause()
        try:
            await asyncio.sleep(STOP_SECONDS)
        finally:
            mariadb.resume()  # even if the test is cancelled: never leave it stopped
        return Window(fault_at, time.monotonic())

    figures = await run_scenario(
        scenario,
        base_url=app.base_url,
        database_url=mariadb.database_url,
        app_log=app.log_path,
        logs=lambda: [*launcher.logs(), mariadb.log_path],
        inject=inject,
    )
    record_and_check(figures)
