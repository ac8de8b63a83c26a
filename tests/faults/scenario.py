"""One fault scenario, start to end: seed, load, fault, observe the recovery, check the
database, record the figures.

Waits are measured, not guessed: the scenario observes until the app has answered every
request with success for SETTLE seconds (and no request has hung for more than a second),
or until the recovery window runs out; either way the figures say what happened.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import pool, select
from sqlalchemy.ext.asyncio import create_async_engine

from tests.faults.figures import (
    RESULTS_PATH,
    Figures,
    add_traffic,
    check_traffic,
    read_log,
    record,
)
from tests.faults.load import Load
from tests.services.worker_process import seed_tasks
from webapp.tasks.models import Task

CLIENTS = int(os.environ.get("FAULTS_CLIENTS", "24"))
# How long after the dependency is back the scenario waits for steady success (the goal
# is 2 s; the issue measured 68-101 s on a SIGSTOP: raise it to measure such a case).
RECOVERY_WINDOW = float(os.environ.get("FAULTS_RECOVERY_WINDOW", "30"))
SETTLE = 4.0
WARMUP = 3.0
LIVE_TASKS = 200
LOGS_DIR = RESULTS_PATH.parent / "faults-logs"


@dataclass
class Window:
    """When the fault began and when the dependency was back (time.monotonic())."""

    fault_at: float
    back_at: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    description: str
    dependency: str
    clients: int = CLIENTS
    outage_seconds: float = 0.0
    settle: float = SETTLE
    window: float = RECOVERY_WINDOW


async def stored_titles(database_url: str, prefix: str) -> list[tuple[str, str]]:
    """(id, title) of every task whose title starts with `prefix`, read directly."""
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Task.id, Task.title).where(Task.title.startswith(prefix))
            )
            return [(str(row.id), row.title) for row in rows]
    finally:
        await engine.dispose()


async def seed_live_tasks(database_url: str, count: int = LIVE_TASKS) -> list[str]:
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        return [str(i) for i in await seed_tasks(engine, count, deleted_at=None, title="live")]
    finally:
        await engine.dispose()


async def warm_up(load: Load, seconds: float = WARMUP, within: float = 60) -> None:
    """Until the load has run `seconds` and had successes, so that 'before' is a baseline."""
    started = time.monotonic()
    while True:
        now = time.monotonic()
        if now - started >= seconds and sum(o.ok for o in load.outcomes) >= 50:
            return
        if now - started > within:
            raise AssertionError(f"the load did not get going in {within:.0f}s")
        await asyncio.sleep(0.1)


async def observe_recovery(load: Load, back_at: float, settle: float, window: float) -> bool:
    """Wait until every request sent since `back_at` and answered in the last `settle`
    seconds succeeded (with some success), and none has been waiting for over a second.
    Returns False when `window` ran out first."""
    while True:
        now = time.monotonic()
        sent_after = load.since(back_at)
        if any(o.settled for o in sent_after):
            last_bad = max((o.ended for o in sent_after if not o.settled), default=back_at)
            first_ok = min(o.ended for o in sent_after if o.settled)
            if now - max(last_bad, first_ok) >= settle and load.in_flight_longer_than(1.0) == 0:
                return True
        if now - back_at > window:
            return False
        await asyncio.sleep(0.1)


def log_size(path: Path) -> int:
    # A stat takes microseconds: not worth a thread, even inside the event loop.
    return path.stat().st_size


def keep_logs(name: str, paths: Iterable[Path]) -> None:
    """Copy the processes' logs where CI keeps its artifacts (test-results/)."""
    target = LOGS_DIR / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in paths:
        if path.exists():
            shutil.copy(path, target / path.name)


async def run_scenario(
    scenario: Scenario,
    *,
    base_url: str,
    database_url: str,
    app_log: Path,
    logs: Callable[[], Iterable[Path]],
    inject: Callable[[Load], Awaitable[Window]],
    after_back: Callable[[Window, Figures], Awaitable[None]] | None = None,
) -> Figures:
    """Run the load, `inject` the fault (it returns once the dependency is back), then
    observe until recovered (and until `after_back`, which may add figures and failures of
    its own, has returned), and measure. `logs` names the logs to keep, once all is over
    (a worker started mid-scenario has one too)."""
    figures = Figures(
        scenario=scenario.name,
        description=scenario.description,
        clients=scenario.clients,
        outage_seconds=scenario.outage_seconds,
    )
    prefix = f"faults-{uuid.uuid4().hex[:8]}"
    ids = await seed_live_tasks(database_url)
    steady = False
    async with Load(base_url, clients=scenario.clients, task_ids=ids, title_prefix=prefix) as load:
        await warm_up(load)
        fault_offset = log_size(app_log)
        fault = await inject(load)
        figures.extra.update(fault.extra)
        recovery = asyncio.create_task(
            observe_recovery(load, fault.back_at, scenario.settle, scenario.window)
        )
        try:
            if after_back is not None:
                await after_back(fault, figures)
            steady = await recovery
        finally:
            recovery.cancel()
    add_traffic(
        figures, load.outcomes, fault_at=fault.fault_at, back_at=fault.back_at, steady=steady
    )
    figures.extra["probes_skipped"] = load.probes_skipped

    stored = await stored_titles(database_url, prefix)
    stored_by_id = dict(stored)
    titles = [title for _, title in stored]
    figures.acknowledged_writes = len(load.acknowledged)
    figures.lost_writes = sum(
        stored_by_id.get(task_id) != title for task_id, title in load.acknowledged.items()
    )
    figures.duplicates = len(titles) - len(set(titles))
    figures.unanswered_creates = len(load.unknown_titles)
    figures.applied_without_answer = len(load.applied_without_answer)
    figures.log = read_log(app_log, fault_offset)
    keep_logs(scenario.name, logs())
    check_traffic(figures, dependency=scenario.dependency, window=scenario.window)
    return figures


def record_and_check(figures: Figures) -> None:
    """Write the figures (whatever they say), then fail the test on every missed goal."""
    record(figures)
    if figures.failures:
        details = "\n".join(f"- {failure}" for failure in figures.failures)
        examples = "\n".join(f"  {example}" for example in figures.examples[:10])
        pytest.fail(
            f"{figures.scenario}: goals missed\n{details}\nexamples:\n{examples}\n"
            f"statuses: {figures.statuses}",
            pytrace=False,
        )
