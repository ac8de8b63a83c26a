"""The read cache's Redis is killed under load and restarted (empty, as after a crash).

Goals: every request succeeds throughout (reads fall back to the database); the cache's
breaker logs one warning when Redis goes and one recovery when it is back, not a cycle
of them; caching resumes once Redis is back; no read older than an acknowledged write.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.dependencies import PrivateMariaDB, PrivateRedis
from tests.faults.load import Load
from tests.faults.scenario import Scenario, Window, record_and_check, run_scenario
from tests.faults.servers import Launcher

pytestmark = pytest.mark.faults

KILL_SECONDS = 5.0
# Long enough after Redis is back to see a breaker that opens again (it probes every 1 s).
SETTLE_SECONDS = 8.0


async def test_redis_killed_and_restarted(
    mariadb: PrivateMariaDB, redis_server: PrivateRedis, launcher: Launcher
) -> None:
    app = await launcher.app(
        DATABASE_URL=mariadb.database_url, REDIS_URL=redis_server.url(1), BROKER_URL=""
    )
    scenario = Scenario(
        name="redis-sigkill",
        description=f"Redis (read cache) kill -9, restarted empty {KILL_SECONDS:.0f} s later",
        dependency="Redis",
        outage_seconds=KILL_SECONDS,
        settle=SETTLE_SECONDS,
    )

    async def inject(load: Load) -> Window:
        fault_at = time.monotonic()
        redis_server.kill()
        await asyncio.sleep(KILL_SECONDS)
        restarted_at = time.monotonic()
        redis_server.start()
        back_at = await redis_server.wait_ready()
        return Window(fault_at, back_at, {"restart_s": round(back_at - restarted_at, 3)})

    figures = await run_scenario(
        scenario,
        base_url=app.base_url,
        database_url=mariadb.database_url,
        app_log=app.log_path,
        logs=lambda: [*launcher.logs(), redis_server.log_path],
        inject=inject,
    )
    breaker = (figures.log.cache_unavailable, figures.log.cache_recovered)
    if breaker != (1, 1):
        figures.failures.append(
            f"cache breaker: {breaker[0]} 'unavailable' warnings and {breaker[1]} recoveries "
            "logged for one outage (goal: 1 and 1)"
        )
    if figures.first_cache_hit_s is None:
        figures.failures.append("caching did not resume after Redis was back (no X-Cache: HIT)")
    record_and_check(figures)
