"""The cluster scaled out, natively: three app replicas and two workers behind nginx
(`replica_cluster`, tests/cluster/replicas.py), every request through the proxy, against
the local MariaDB, Redis and RabbitMQ.

- a mixed API load lands on every replica, each logging the client's own address;
- a bulk restore, asked for and watched through the proxy, is done by a worker;
- a replica given SIGTERM answers the request it holds, refuses new ones, and exits;
- a replica given SIGTERM under load: no request cut;
- a replica SIGKILLed under load: no read fails (nginx passes it on), at most the writes
  in flight on it fail (never sent twice), and no acknowledged write is lost;
- a worker given SIGTERM mid-restore exits within a batch; another finishes the job, each
  task restored once.

Each test writes its figures into test-results/replicas.json (tests/cluster/report.py
turns them into docs/reliability.md's "Replicas behind the proxy") and fails on any goal
it misses. The tests run in this order and each leaves the cluster whole.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.accounts import log_in, make_person
from tests.cluster.replicas import CLIENT_ADDRESS, AppReplica, ReplicaCluster
from tests.cluster.report import record_and_check
from tests.databases import make_settings
from tests.faults.client import api_client
from tests.faults.load import Load, Outcome
from tests.faults.processes import port_accepts
from tests.faults.scenario import seed_live_tasks, stored_titles
from tests.services.worker_process import read_job, seed_tasks
from webapp.cli import drain_seconds
from webapp.db import create_engine
from webapp.jobs.models import Job
from webapp.restore.schemas import RestoreJobRead
from webapp.tasks.models import Task

pytestmark = [pytest.mark.mariadb, pytest.mark.redis, pytest.mark.rabbitmq]

CLIENTS = 16
WARMUP_SECONDS = 2.0
LOAD_SECONDS = 4.0
AFTER_FAULT_SECONDS = 3.0
METHODS = {"list": "GET", "get": "GET", "create": "POST", "update": "PATCH", "complete": "POST"}
# What docker-compose.yml gives a worker container between SIGTERM and SIGKILL.
WORKER_GRACE_SECONDS = 30.0
RESTORED_TASKS = 2_000
TRASHED_FOR_WORKER_STOP = 10_000
JOB_WATCH_SECONDS = 90.0
SLOW_REQUEST_HOLD_SECONDS = 2.0


# --- helpers --------------------------------------------------------------------------


async def until(condition: Callable[[], bool], within: float, what: str) -> float:
    """Wait (polling, without blocking the loop) until `condition`; returns the moment."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic()


def method_of(outcome: Outcome) -> str:
    return METHODS[outcome.operation]


def by_method(outcomes: Sequence[Outcome], *, errors_only: bool = False) -> dict[str, int]:
    """'GET 200': count, over `outcomes` (only those that were not a success)."""
    return dict(
        Counter(f"{method_of(o)} {o.label}" for o in outcomes if not (errors_only and o.settled))
    )


def in_flight_at(outcomes: Sequence[Outcome], moment: float) -> list[Outcome]:
    return [o for o in outcomes if o.started <= moment <= o.ended]


async def lost_writes(load: Load, database_url: str, prefix: str) -> dict[str, int]:
    """Acknowledged writes the database does not hold: creates (201) missing or changed,
    and tasks at a lower version than a write (200) had acknowledged. Also the creates it
    holds that no client saw acknowledged (applied, but the answer was lost)."""
    stored = dict(await stored_titles(database_url, prefix))
    lost_creates = sum(stored.get(i) != title for i, title in load.acknowledged.items())
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:
            floors = load.version_floor
            rows = await connection.execute(
                select(Task.id, Task.version).where(Task.id.in_([UUID(i) for i in floors]))
            )
            versions = {str(row.id): row.version for row in rows}
    finally:
        await engine.dispose()
    lost_updates = sum(versions.get(i, 0) < floor for i, floor in floors.items())
    acknowledged_titles = set(load.acknowledged.values())
    return {
        "acknowledged_creates": len(load.acknowledged),
        "acknowledged_versions": len(floors),
        "lost_creates": lost_creates,
        "lost_updates": lost_updates,
        "duplicated_titles": len(stored) - len(set(stored.values())),
        "applied_without_acknowledgement": len(set(stored.values()) - acknowledged_titles),
    }


def check_writes(writes: dict[str, int], failures: list[str]) -> None:
    if writes["lost_creates"] or writes["lost_updates"]:
        failures.append(
            f"acknowledged writes lost: {writes['lost_creates']} creates, "
            f"{writes['lost_updates']} updates"
        )
    if writes["duplicated_titles"]:
        failures.append(f"{writes['duplicated_titles']} creates stored twice")


async def warm(load: Load) -> None:
    await asyncio.sleep(WARMUP_SECONDS)
    if not any(o.ok for o in load.outcomes):
        raise AssertionError(f"no success through the proxy in {WARMUP_SECONDS}s")


def nginx_errors(cluster: ReplicaCluster, since: float) -> dict[str, int]:
    """nginx's error log from `since` (wall clock), counted by what went wrong."""
    counts: Counter[str] = Counter()
    for line in cluster.nginx.error_log.read_text(errors="replace").splitlines():
        match = re.match(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[\w+\] [\d#]+: \*\d+ ([^,]+)", line)
        if match is None:
            continue
        stamp = datetime.datetime.strptime(match[1], "%Y/%m/%d %H:%M:%S").timestamp()
        if stamp >= int(since):
            counts[re.sub(r"\d+: ", "", match[2])] += 1
    return dict(counts)


def new_prefix(name: str) -> str:
    return f"replicas-{name}-{uuid.uuid4().hex[:8]}"


# --- the tests ------------------------------------------------------------------------


async def test_a_mixed_load_lands_on_every_replica_with_the_clients_address(
    replica_cluster: ReplicaCluster,
) -> None:
    cluster = replica_cluster
    prefix = new_prefix("load")
    ids = await seed_live_tasks(cluster.database_url)
    offsets = {app.name: app.log_size() for app in cluster.apps}
    logged_before = len(cluster.nginx.requests())
    async with Load(
        cluster.base_url,
        clients=CLIENTS,
        task_ids=ids,
        title_prefix=prefix,
        source_address=CLIENT_ADDRESS,
    ) as load:
        await asyncio.sleep(LOAD_SECONDS)
    outcomes = load.outcomes
    served = {app.name: app.access_lines(offsets[app.name]) for app in cluster.apps}
    proxied = cluster.nginx.requests()[logged_before:]
    writes = await lost_writes(load, cluster.database_url, prefix)
    figures: dict[str, Any] = {
        "clients": CLIENTS,
        "seconds": LOAD_SECONDS,
        "requests": len(outcomes),
        "answers by method": by_method(outcomes),
        "served by replica": {name: len(lines) for name, lines in served.items()},
        "client addresses in the replicas' logs": dict(
            Counter(line["client"] for lines in served.values() for line in lines)
        ),
        "passed on by nginx": sum(line.passed_on for line in proxied),
        **writes,
    }
    failures = []
    if errors := by_method(outcomes, errors_only=True):
        failures.append(f"errors: {errors}")
    total = sum(len(lines) for lines in served.values())
    for name, lines in served.items():
        # Round robin: a third each; a quarter leaves room for the prober's rhythm.
        if len(lines) < total / 4:
            failures.append(f"{name} served {len(lines)} of {total} requests")
    addresses = {line["client"] for lines in served.values() for line in lines}
    if addresses != {CLIENT_ADDRESS}:
        failures.append(f"the replicas logged {addresses}, not the client's {CLIENT_ADDRESS}")
    check_writes(writes, failures)
    record_and_check(
        "mixed-load",
        f"{CLIENTS} API clients through nginx for {LOAD_SECONDS:.0f} s, 3 replicas",
        figures,
        failures,
    )


async def test_a_bulk_restore_through_the_proxy_is_done_by_a_worker(
    replica_cluster: ReplicaCluster,
) -> None:
    cluster = replica_cluster
    title = new_prefix("restore")
    engine = create_engine(make_settings(cluster.database_url))
    try:
        hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        await seed_tasks(engine, RESTORED_TASKS, deleted_at=hour_ago, title=title)
        offsets = {app.name: app.log_size() for app in cluster.apps}
        async with cluster.client() as http:
            started = time.monotonic()
            created = await http.post("/api/restore-jobs", json={"all": True})
            assert created.status_code == 202, created.text
            location = created.headers["Location"]
            polls: Counter[int] = Counter()
            while True:
                answer = await http.get(location)
                polls[answer.status_code] += 1
                job = answer.json()
                if job["status"] in {"done", "failed"}:
                    break
                if time.monotonic() - started > JOB_WATCH_SECONDS:
                    break
                await asyncio.sleep(0.1)
            took = time.monotonic() - started
        versions = await versions_of(engine, title)
    finally:
        await engine.dispose()
    polled_by = {
        app.name: sum(line["path"] == location for line in app.access_lines(offsets[app.name]))
        for app in cluster.apps
    }
    done_by = [w.name for w in cluster.workers if w.job_lines(job["id"])]
    figures = {
        "tasks trashed": RESTORED_TASKS,
        "job": {k: job[k] for k in ("status", "total", "restored", "skipped")},
        "seconds from POST to done": round(took, 2),
        "polls answered": {str(k): v for k, v in polls.items()},
        "polls served by replica": polled_by,
        "worker that ran it": ", ".join(done_by) or "unknown",
        "trashed tasks by version": versions,
    }
    failures = []
    if job["status"] != "done":
        failures.append(f"job {job['status']} after {took:.0f}s: {job}")
    elif job["restored"] + job["skipped"] != job["total"] or job["total"] < RESTORED_TASKS:
        failures.append(f"job counts do not add up: {job}")
    if versions != {"v2": RESTORED_TASKS}:
        failures.append(f"not every task restored exactly once: {versions}")
    if set(polls) != {200}:
        failures.append(f"polls answered {dict(polls)}")
    if len(done_by) != 1:
        failures.append(f"the job's lines are in the logs of {done_by}")
    record_and_check(
        "bulk-restore",
        f'POST /api/restore-jobs {{"all": true}} over {RESTORED_TASKS:,} trashed tasks, '
        "polled through nginx until done",
        figures,
        failures,
    )


LIVE_WRITES = 6
LIVE_WAIT_SECONDS = 10.0


async def test_a_change_on_one_replica_reaches_a_stream_held_by_another(
    replica_cluster: ReplicaCluster,
) -> None:
    """Bob's browser holds a live-update stream (on one replica, through nginx, which must
    not buffer it); Ada's writes to the list she shares with him land on every replica in
    turn. Each one's event reaches his stream: the replicas share changes through Redis."""
    cluster = replica_cluster
    suffix = uuid.uuid4().hex[:8]
    ada = await make_person(cluster.database_url, f"ada-{suffix}@example.com", name="Ada")
    bob = await make_person(cluster.database_url, f"bob-{suffix}@example.com", name="Bob")
    offsets = {app.name: app.log_size() for app in cluster.apps}
    async with (
        httpx.AsyncClient(base_url=cluster.base_url, headers=ada.bearer, timeout=10) as ada_http,
        httpx.AsyncClient(base_url=cluster.base_url, timeout=10) as browser,
    ):
        shared = (await ada_http.post("/api/lists", json={"name": "Shared live"})).json()
        member = {"email": bob.email, "role": "viewer"}
        assert (await ada_http.post(f"/api/lists/{shared['id']}/members", json=member)).is_success
        await log_in(browser, bob)
        heard: list[dict[str, Any]] = []
        started = time.monotonic()
        async with browser.stream(
            "GET", "/events", headers={"Accept": "text/event-stream"}, timeout=None
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith(":")  # the stream's opening comment

            async def write() -> None:
                for number in range(LIVE_WRITES):
                    body = {"title": f"live {number}", "list_id": shared["id"]}
                    assert (await ada_http.post("/api/tasks", json=body)).status_code == 201

            writing = asyncio.create_task(write())
            try:
                async with asyncio.timeout(LIVE_WAIT_SECONDS):
                    async for line in lines:
                        if line.startswith("data:"):
                            change = json.loads(line.removeprefix("data:"))
                            if shared["id"] in change["lists"]:
                                heard.append(change)
                        if len(heard) == LIVE_WRITES:
                            break
            except TimeoutError:
                pass
            await writing
        took = time.monotonic() - started
    written_by = {
        app.name: sum(
            line["path"] == "/api/tasks" and line["method"] == "POST"
            for line in app.access_lines(offsets[app.name])
        )
        for app in cluster.apps
    }
    figures = {
        "writes": LIVE_WRITES,
        "written by replica": written_by,
        "events heard naming the list": len(heard),
        "seconds": round(took, 2),
    }
    failures = []
    if len(heard) != LIVE_WRITES:
        failures.append(f"heard {len(heard)} of {LIVE_WRITES} changes")
    if sum(1 for count in written_by.values() if count) < 2:
        failures.append(f"the writes did not spread over the replicas: {written_by}")
    record_and_check(
        "live-updates",
        f"one browser's stream through nginx, {LIVE_WRITES} writes to its shared list by "
        "another account, spread over 3 replicas",
        figures,
        failures,
    )


async def versions_of(engine: AsyncEngine, title: str) -> dict[str, int]:
    """How many tasks whose title starts with `title` are at each version (and in the trash)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(Task.version, Task.deleted_at.is_not(None), func.count())
            .where(Task.title.startswith(title))
            .group_by(Task.version, Task.deleted_at.is_not(None))
        )
        return {
            f"v{version}{' in trash' if trashed else ''}": count for version, trashed, count in rows
        }


async def test_a_replica_given_sigterm_answers_its_slow_request_then_exits(
    replica_cluster: ReplicaCluster,
) -> None:
    """A request held up by a row lock (a slow database) is in flight on a replica when it
    gets SIGTERM: it is answered, the replica refuses new connections at once, and exits
    soon after the answer."""
    cluster = replica_cluster
    app = cluster.apps[0]
    title = new_prefix("slow")
    async with cluster.client() as http:
        created = await http.post("/api/tasks", json={"title": title})
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    engine = create_engine(make_settings(cluster.database_url))
    database = cluster.database_url.rsplit("/", 1)[1]
    try:
        async with engine.connect() as holder:
            await holder.execute(
                text("SELECT id FROM task WHERE title = :t FOR UPDATE"), {"t": title}
            )
            async with api_client(
                app.base_url, connections=1, source_address=CLIENT_ADDRESS
            ) as direct:
                sent = time.monotonic()
                patch = asyncio.create_task(
                    direct.patch(f"/api/tasks/{task_id}", json={"notes": "written while stopping"})
                )
                await wait_for_update(engine, database)
                term_at = time.monotonic()
                app.signal(signal.SIGTERM)
                refused_at = await until(
                    lambda: not port_accepts(app.port), 5, "new connections refused"
                )
                await asyncio.sleep(SLOW_REQUEST_HOLD_SECONDS)
                await holder.rollback()  # the database answers now
                response = await patch
                answered_at = time.monotonic()
        exited_at = await until(
            lambda: not app.alive(),
            drain_seconds(make_settings("sqlite://")) + 10,
            "the replica to exit",
        )
        notes = await notes_of(engine, task_id)
    finally:
        await engine.dispose()
    assert app.child is not None
    figures = {
        "request": "PATCH /api/tasks/{id}, its UPDATE waiting on a row lock held by the test",
        "request in flight before SIGTERM (s)": round(term_at - sent, 2),
        "new connections refused after SIGTERM (s)": round(refused_at - term_at, 3),
        "lock released after SIGTERM (s)": SLOW_REQUEST_HOLD_SECONDS,
        "answer": response.status_code,
        "answered after SIGTERM (s)": round(answered_at - term_at, 2),
        "exited after SIGTERM (s)": round(exited_at - term_at, 2),
        "exited after the answer (s)": round(exited_at - answered_at, 2),
        "exit code": app.child.process.returncode,
    }
    failures = []
    if response.status_code != 200 or notes != "written while stopping":
        failures.append(f"the request in flight got {response.status_code}; notes {notes!r}")
    if refused_at - term_at > 1:
        failures.append(f"new connections accepted {refused_at - term_at:.1f}s after SIGTERM")
    if exited_at - answered_at > 3:
        failures.append(f"exited {exited_at - answered_at:.1f}s after its last answer")
    if app.child.process.returncode != 0:
        failures.append(f"exit code {app.child.process.returncode}")
    record_and_check(
        "app-sigterm-slow-request",
        "SIGTERM to a replica while a request it serves waits 2 s on the database",
        figures,
        failures,
    )


async def wait_for_update(engine: AsyncEngine, database: str, within: float = 10) -> None:
    """Until a PATCH's UPDATE of a task runs in `database` (where the test's row lock
    holds it up)."""
    deadline = time.monotonic() + within
    # (MariaDB's innodb_trx does not reliably say LOCK WAIT for such a statement.)
    query = text(
        "SELECT COUNT(*) FROM information_schema.processlist "
        "WHERE db = :db AND info LIKE 'UPDATE task SET %'"
    )
    while True:
        async with engine.connect() as connection:
            if (await connection.execute(query, {"db": database})).scalar_one():
                return
        if time.monotonic() > deadline:
            raise AssertionError("the slow request never reached the database")
        await asyncio.sleep(0.02)


async def notes_of(engine: AsyncEngine, task_id: str) -> str | None:
    async with engine.connect() as connection:
        return (
            await connection.execute(select(Task.notes).where(Task.id == UUID(task_id)))
        ).scalar_one_or_none()


@dataclass
class Stop:
    """When (time.monotonic()) a replica under load was signalled, stopped accepting
    connections, and was gone; and the signal's wall-clock time (nginx's log's clock)."""

    load: Load
    signalled_at: float
    signalled_wall: float
    refused_at: float
    gone_at: float


async def stop_under_load(
    cluster: ReplicaCluster, app: AppReplica, how: signal.Signals, prefix: str
) -> Stop:
    """Run the load, deliver `how` to `app` in its middle, and go on a while."""
    ids = await seed_live_tasks(cluster.database_url)
    async with Load(
        cluster.base_url,
        clients=CLIENTS,
        task_ids=ids,
        title_prefix=prefix,
        source_address=CLIENT_ADDRESS,
    ) as load:
        await warm(load)
        signalled_at, signalled_wall = time.monotonic(), time.time()
        if how == signal.SIGKILL:
            # The whole group at once; the kernel tears its connections down as it goes.
            assert app.child is not None
            os.killpg(app.child.pid, signal.SIGKILL)
        else:
            app.signal(how)
        refused_at = await until(lambda: not port_accepts(app.port), 30, "connections refused")
        gone_at = await until(lambda: not app.alive(), 30, f"{app.name} to exit")
        await asyncio.sleep(AFTER_FAULT_SECONDS)
    return Stop(load, signalled_at, signalled_wall, refused_at, gone_at)


async def test_a_replica_given_sigterm_under_load_cuts_no_request(
    replica_cluster: ReplicaCluster,
) -> None:
    """A rolling restart's step: the replica finishes what it holds, nginx sends the rest
    elsewhere. Nobody sees an error."""
    cluster = replica_cluster
    app = cluster.apps[1]
    prefix = new_prefix("sigterm")
    logged_before = len(cluster.nginx.requests())
    stop = await stop_under_load(cluster, app, signal.SIGTERM, prefix)
    load, term_at = stop.load, stop.signalled_at
    outcomes = load.outcomes
    proxied = cluster.nginx.requests()[logged_before:]
    writes = await lost_writes(load, cluster.database_url, prefix)
    assert app.child is not None
    figures: dict[str, Any] = {
        "clients": CLIENTS,
        "requests": len(outcomes),
        "in flight at SIGTERM": len(in_flight_at(outcomes, term_at)),
        "answered by the stopping replica after SIGTERM": sum(
            line.upstreams[-1:] == (app.address,) and line.ended >= stop.signalled_wall
            for line in proxied
        ),
        "passed on by nginx": sum(line.passed_on for line in proxied),
        "new connections refused after SIGTERM (s)": round(stop.refused_at - term_at, 3),
        "exited after SIGTERM (s)": round(stop.gone_at - term_at, 2),
        "exit code": app.child.process.returncode,
        "errors by method": by_method(outcomes, errors_only=True),
        **writes,
    }
    failures = []
    if figures["errors by method"]:
        failures.append(f"requests cut: {figures['errors by method']}")
    if app.child.process.returncode != 0:
        failures.append(f"exit code {app.child.process.returncode}")
    check_writes(writes, failures)
    record_and_check(
        "app-sigterm-under-load",
        f"SIGTERM to one of 3 replicas under {CLIENTS} clients through nginx",
        figures,
        failures,
    )


async def test_a_replica_killed_under_load_fails_no_read_and_loses_no_write(
    replica_cluster: ReplicaCluster,
) -> None:
    """SIGKILL of a replica (its whole process group) under load. Goals: no GET fails
    (nginx passes it to another replica); the POSTs and PATCHes that fail are 502s of
    requests in flight on the killed replica, i.e. sent before its connections were gone
    (nginx does not send a write twice); no acknowledged write is lost."""
    cluster = replica_cluster
    app = cluster.apps[2]
    prefix = new_prefix("sigkill")
    logged_before = len(cluster.nginx.requests())
    stop = await stop_under_load(cluster, app, signal.SIGKILL, prefix)
    load, kill_at = stop.load, stop.signalled_at
    outcomes = load.outcomes
    proxied = cluster.nginx.requests()[logged_before:]
    writes = await lost_writes(load, cluster.database_url, prefix)
    errors = [o for o in outcomes if not o.settled]
    cut_by_nginx = [line for line in proxied if line.status == 502]
    figures: dict[str, Any] = {
        "clients": CLIENTS,
        "requests": len(outcomes),
        "in flight at the kill": dict(
            Counter(method_of(o) for o in in_flight_at(outcomes, kill_at))
        ),
        "errors by method": by_method(outcomes, errors_only=True),
        "failed writes, sent after the kill (ms)": sorted(
            round((o.started - kill_at) * 1000) for o in errors if method_of(o) != "GET"
        ),
        "connections refused after the kill (ms)": round((stop.refused_at - kill_at) * 1000),
        "nginx's errors": nginx_errors(cluster, since=stop.signalled_wall),
        "reads passed on to another replica": sum(
            line.passed_on and line.method in {"GET", "HEAD"} for line in proxied
        ),
        "writes passed on (never reached the dead replica)": sum(
            line.passed_on and line.method not in {"GET", "HEAD"} for line in proxied
        ),
        "502s in nginx's log, by the replica they were cut on": dict(
            Counter(line.upstreams[-1] if line.upstreams else "-" for line in cut_by_nginx)
        ),
        **writes,
    }
    failures = []
    if failed_reads := [o for o in errors if method_of(o) == "GET"]:
        failures.append(f"{len(failed_reads)} reads failed: {by_method(failed_reads)}")
    failed_writes = [o for o in errors if method_of(o) != "GET"]
    for outcome in failed_writes:
        # In flight on the dying replica: sent before its connections were gone (the
        # kernel takes some milliseconds to tear a killed process down), not answered
        # before the kill.
        if outcome.status != 502 or not outcome.ended >= kill_at >= outcome.started - (
            stop.refused_at - kill_at
        ):
            failures.append(
                f"a {method_of(outcome)} got {outcome.label}, sent "
                f"{outcome.started - kill_at:+.3f}s from the kill"
            )
    if any(line.upstreams[-1:] != (app.address,) for line in cut_by_nginx):
        failures.append(f"502s on other replicas than the killed one: {figures}")
    if len(cut_by_nginx) != len(failed_writes):
        failures.append(f"{len(failed_writes)} writes failed, nginx cut {len(cut_by_nginx)}")
    check_writes(writes, failures)
    record_and_check(
        "app-sigkill-under-load",
        f"SIGKILL of one of 3 replicas under {CLIENTS} clients through nginx",
        figures,
        failures,
    )


async def test_a_worker_given_sigterm_mid_restore_hands_the_job_to_the_other(
    replica_cluster: ReplicaCluster,
) -> None:
    """SIGTERM reaches the worker while its batch waits on the database (a row half-way
    through the trash is locked by the test, so the job cannot outrun the signal however
    fast the machine). Goals: the batch in hand commits, the worker leaves the job and
    exits within its grace period; the other worker finishes the job; every task is
    restored exactly once."""
    cluster = replica_cluster
    title = new_prefix("handover")
    batch = int(cluster.settings["RESTORE_BATCH_SIZE"])
    engine = create_engine(make_settings(cluster.database_url))
    try:
        hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        await seed_tasks(engine, TRASHED_FOR_WORKER_STOP, deleted_at=hour_ago, title=title)
        async with engine.connect() as holder:
            # The first task of the batch after half of them, in the job's keyset order.
            await holder.execute(
                text(
                    "SELECT id FROM task WHERE id = (SELECT id FROM task WHERE title LIKE :t "
                    "ORDER BY deleted_at, id LIMIT 1 OFFSET :n) FOR UPDATE"
                ),
                {"t": f"{title}%", "n": TRASHED_FOR_WORKER_STOP // 2},
            )
            async with cluster.client() as http:
                created = await http.post("/api/restore-jobs", json={"all": True})
            assert created.status_code == 202, created.text
            job_id = UUID(created.json()["id"])
            owner = await claimed(engine, job_id)
            (stopping,) = [w for w in cluster.workers if w.owns(int(owner.split(":")[1]))]
            (other,) = [w for w in cluster.workers if w is not stopping]
            at_term = await stalled(engine, job_id)
            term_at = time.monotonic()
            stopping.signal(signal.SIGTERM)
            # Longer than Dramatiq takes to begin stopping (its worker process looks at
            # its stop flag every second).
            await asyncio.sleep(SLOW_REQUEST_HOLD_SECONDS)
            await holder.rollback()
            released_at = time.monotonic()
        exited_at = await until(
            lambda: not stopping.alive(), WORKER_GRACE_SECONDS, f"{stopping.name} to exit"
        )
        current = await finished(engine, job_id, JOB_WATCH_SECONDS)
        done_at = time.monotonic()
        versions = await versions_of(engine, title)
    finally:
        await engine.dispose()
    assert stopping.child is not None
    said = {w.name: w.job_lines(job_id) for w in cluster.workers}
    finished_by = [
        name
        for name, lines in said.items()
        if any(line["event"] == "job delivery ended" and line["status"] == "done" for line in lines)
    ]
    left = [line["done"] for line in said[stopping.name] if line["event"].startswith("job left")]
    figures: dict[str, Any] = {
        "tasks trashed": TRASHED_FOR_WORKER_STOP,
        "batch size": batch,
        "restored at SIGTERM (its next batch waiting on a locked row)": at_term.restored,
        "lock released after SIGTERM (s)": SLOW_REQUEST_HOLD_SECONDS,
        "restored when the worker left (its log)": left[0] if left else None,
        "worker exited after SIGTERM (s)": round(exited_at - term_at, 2),
        "worker exited after its batch could commit (s)": round(exited_at - released_at, 2),
        "exit code": stopping.child.process.returncode,
        "job": current.status,
        "done after SIGTERM (s)": round(done_at - term_at, 2),
        "what each worker's log says of the job": {
            name: "; ".join(f"{line['event']} ({line['done']} done)" for line in lines) or "nothing"
            for name, lines in said.items()
        },
        "trashed tasks by version": versions,
    }
    failures = []
    if left != [at_term.restored + batch]:
        failures.append(
            f"the worker left at {left} restored, not once after the batch in hand "
            f"({at_term.restored} + {batch})"
        )
    if current.status != "done":
        failures.append(f"job {current.status} {JOB_WATCH_SECONDS:.0f}s after SIGTERM")
    if finished_by != [other.name]:
        failures.append(f"finished by {finished_by}, not by {other.name}")
    if versions != {"v2": TRASHED_FOR_WORKER_STOP}:
        failures.append(f"not every task restored exactly once: {versions}")
    if stopping.child.process.returncode != 0:
        failures.append(f"exit code {stopping.child.process.returncode}")
    record_and_check(
        "worker-sigterm-mid-restore",
        f"SIGTERM to the worker running a restore of {TRASHED_FOR_WORKER_STOP:,} tasks "
        f"(batches of {batch}) while its batch waits 2 s on a row lock; two workers",
        figures,
        failures,
    )


async def claimed(engine: AsyncEngine, job_id: UUID, within: float = 30) -> str:
    """The job's lease owner (host:pid:delivery), once a worker has claimed it."""
    deadline = time.monotonic() + within
    while True:
        async with engine.connect() as connection:
            owner = (
                await connection.execute(select(Job.lease_owner).where(Job.id == job_id))
            ).scalar_one_or_none()
        if owner:
            return owner
        if time.monotonic() > deadline:
            raise AssertionError(f"no worker claimed the job within {within:.0f}s")
        await asyncio.sleep(0.005)


async def stalled(
    engine: AsyncEngine, job_id: UUID, *, still: float = 0.5, within: float = 30
) -> RestoreJobRead:
    """The job once its progress has not moved for `still` seconds (a batch waits on a
    lock: unhindered, it commits a batch every few milliseconds)."""
    deadline = time.monotonic() + within
    last = await read_job(engine, job_id)
    since = time.monotonic()
    while True:
        await asyncio.sleep(0.05)
        job = await read_job(engine, job_id)
        if job.finished:
            raise AssertionError(f"the job finished without waiting on the lock: {job}")
        if job.restored != last.restored or job.restored == 0:
            last, since = job, time.monotonic()
        elif time.monotonic() - since >= still:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"the job never waited on the lock: {job}")


async def finished(engine: AsyncEngine, job_id: UUID, within: float) -> RestoreJobRead:
    """The job once finished, or as it is after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        job = await read_job(engine, job_id)
        if job.finished or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.05)
