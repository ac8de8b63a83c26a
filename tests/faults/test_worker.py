"""A worker is SIGKILLed in the middle of a bulk restore of 20,000 trashed tasks, under
load, then a new worker starts: through RabbitMQ (the shared server, on a queue prefix
of this test's own, deleted after) and through a private Redis broker.

Goals: the job is done within 60 s of the new worker being ready; every trashed task is
restored exactly once (version 1 -> 2); the API keeps answering successes throughout
(the worker is not on the request path); no acknowledged write lost or duplicated.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.databases import make_settings
from tests.faults.client import api_client
from tests.faults.dependencies import PrivateMariaDB, PrivateRedis
from tests.faults.figures import Figures
from tests.faults.load import Load
from tests.faults.scenario import Scenario, Window, record_and_check, run_scenario
from tests.faults.servers import Launcher
from tests.needs import RABBITMQ_URL, need
from tests.services.worker_process import (
    delete_rabbitmq_queues,
    queue_prefix,
    read_job,
    seed_tasks,
)
from webapp.db import create_engine
from webapp.tasks.models import Task

pytestmark = pytest.mark.faults

TRASHED = 20_000
# Small batches: the job takes seconds, so the kill surely lands in its middle.
BATCH_SIZE = 200
TRASHED_TITLE = "trashed for restore"
# No worker at all for this long between the kill and the new worker's start.
NO_WORKER_SECONDS = 2.0
JOB_GOAL_SECONDS = 60.0
# How long the job is watched after the new worker is ready: the goal and a margin, so
# that a job that is merely late is measured, while a stuck one does not hold CI for ever.
JOB_WATCH_SECONDS = JOB_GOAL_SECONDS + 5


async def restored_versions(engine: AsyncEngine) -> dict[tuple[int, bool], int]:
    """How many of the trashed tasks are at each (version, still in the trash)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(Task.version, Task.deleted_at.is_not(None), func.count())
            .where(Task.title.startswith(TRASHED_TITLE))
            .group_by(Task.version, Task.deleted_at.is_not(None))
        )
        return {(version, bool(trashed)): count for version, trashed, count in rows}


@pytest.mark.parametrize("broker", ["rabbitmq", "redis"])
async def test_worker_killed_mid_restore(
    broker: str, mariadb: PrivateMariaDB, redis_server: PrivateRedis, launcher: Launcher
) -> None:
    if broker == "rabbitmq":
        need("rabbitmq")
    prefix = queue_prefix(f"faults_{broker}")
    settings = {
        "DATABASE_URL": mariadb.database_url,
        "REDIS_URL": redis_server.url(1),
        "BROKER_URL": RABBITMQ_URL if broker == "rabbitmq" else redis_server.url(0),
        "BROKER_QUEUE_PREFIX": prefix,
        "RESTORE_BATCH_SIZE": str(BATCH_SIZE),
        "WORKER_PROCESSES": "1",
        "WORKER_THREADS": "2",
    }
    engine = create_engine(make_settings(mariadb.database_url))
    try:
        hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        await seed_tasks(engine, TRASHED, deleted_at=hour_ago, title=TRASHED_TITLE)
        app = await launcher.app(**settings)
        first = launcher.worker(**settings)
        await first.wait_ready()
        scenario = Scenario(
            name=f"worker-sigkill-{broker}",
            description=(
                f"worker kill -9 mid-restore of {TRASHED:,} tasks ({broker} broker), "
                f"a new worker {NO_WORKER_SECONDS:.0f} s later"
            ),
            dependency="the new worker",
            outage_seconds=NO_WORKER_SECONDS,
        )
        job: dict[str, UUID] = {}

        async def inject(load: Load) -> Window:
            async with api_client(app.base_url, connections=1) as client:
                response = await client.post("/api/restore-jobs", json={"all": True})
            assert response.status_code == 202, response.text
            job_id = job["id"] = UUID(response.json()["id"])
            deadline = time.monotonic() + 60
            while (running := await read_job(engine, job_id)).restored == 0:
                assert time.monotonic() < deadline, f"the job never started: {running}"
                await asyncio.sleep(0.005)
            fault_at = time.monotonic()
            first.kill()
            at_kill = await read_job(engine, job_id)
            assert not at_kill.finished, "the job ended before the kill: lower BATCH_SIZE"
            await asyncio.sleep(NO_WORKER_SECONDS)
            idle = await read_job(engine, job_id)
            second = launcher.worker(**settings)
            ready_at = await second.wait_ready()
            return Window(
                fault_at,
                ready_at,
                {
                    "job_status_at_kill": at_kill.status,
                    "restored_at_kill": at_kill.restored,
                    "restored_while_no_worker": idle.restored - at_kill.restored,
                    "new_worker_start_s": round(ready_at - second.started_at, 3),
                    "new_worker_started_at": second.started_at,
                },
            )

        async def watch_job(window: Window, figures: Figures) -> None:
            """Until the job is done or JOB_WATCH_SECONDS have passed since the new worker
            was ready; the figures get its status and timings."""
            started_at = window.extra.pop("new_worker_started_at")
            while True:
                current = await read_job(engine, job["id"])
                now = time.monotonic()
                if current.finished or now - window.back_at > JOB_WATCH_SECONDS:
                    break
                await asyncio.sleep(0.05)
            figures.extra |= {
                "job_status": current.status,
                "job_restored": current.restored,
                "job_total": current.total,
                "job_error": current.error,
            }
            if current.status == "done":
                figures.extra["job_done_after_worker_ready_s"] = round(now - window.back_at, 3)
                figures.extra["job_done_after_worker_start_s"] = round(now - started_at, 3)
                if now - window.back_at > JOB_GOAL_SECONDS:
                    figures.failures.append(
                        f"job done {now - window.back_at:.1f}s after the new worker was ready "
                        f"(goal < {JOB_GOAL_SECONDS:.0f}s)"
                    )
            else:
                figures.failures.append(
                    f"job still {current.status!r} ({current.restored}/{current.total} "
                    f"restored) {JOB_WATCH_SECONDS:.0f}s after the new worker was ready"
                    + (f": {current.error}" if current.error else "")
                )

        figures = await run_scenario(
            scenario,
            base_url=app.base_url,
            database_url=mariadb.database_url,
            app_log=app.log_path,
            logs=launcher.logs,
            inject=inject,
            after_back=watch_job,
        )
        versions = await restored_versions(engine)
        figures.extra["trashed_tasks_by_version"] = {
            f"v{version}{' in trash' if trashed else ''}": count
            for (version, trashed), count in sorted(versions.items())
        }
        restored_once = versions.get((2, False), 0)
        if restored_once != TRASHED:
            figures.failures.append(
                f"{restored_once} of {TRASHED} tasks restored exactly once; "
                f"by (version, in trash): {versions}"
            )
        if figures.extra.get("restored_while_no_worker"):
            figures.failures.append("the job progressed while no worker was running")
        record_and_check(figures)
    finally:
        await engine.dispose()
        # Stopped first: a consumer whose queue is deleted under it declares it again.
        await launcher.close()
        if broker == "rabbitmq":
            delete_rabbitmq_queues(prefix)
