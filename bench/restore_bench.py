"""`make bench-restore`: a bulk restore of 100,000 tasks through a real worker, against the
physical floor of one raw UPDATE of the same rows, on MariaDB, in one run.

1. Rebuilds its own MariaDB database (`tasks_bench_restore`) from the migrations and
   seeds BENCH_RESTORE_TASKS (100,000) tasks, all in the trash.
2. Starts a real worker (`python -m webapp worker`: the dramatiq CLI, one process) on
   RabbitMQ, with its own queue prefix, and Redis as the cache when reachable (its own key
   prefix), so each batch also bumps the cache generation as in the cluster.
3. For BENCH_RESTORE_ROUNDS (3) rounds: times one raw `UPDATE task SET deleted_at = NULL
   ...` of every task (the floor), and how long InnoDB then takes to purge the old row
   versions it left; puts the tasks back in the trash, then times a restore job of the
   whole trash from its creation to `done`, polling the job's row every 25 ms to find the
   longest wait between two visible progress steps; puts them back again. Each timing
   starts once the purge of the previous step is over.
4. Reads the worker processes' peak resident memory (VmHWM in /proc/<pid>/status), prints
   the table, checks the targets (worker / raw <= 2, progress at least every second,
   worker memory < 150 MB), and writes the table to docs/benchmarks.md between its
   markers (appended under its own heading the first time; the rest of the page is kept).

Settings: BENCH_MARIADB_URL (server; the database name is replaced), BENCH_RABBITMQ_URL,
BENCH_REDIS_URL (empty: no Redis), BENCH_RESTORE_TASKS, BENCH_RESTORE_ROUNDS,
RESTORE_BATCH_SIZE (the worker's, default 5000), BENCH_STRICT=1 (exit 1 when a target is
missed).
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pika  # noqa: E402
import redis  # noqa: E402
from sqlalchemy import insert, select, text, update  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession  # noqa: E402
from uuid_utils.compat import uuid7  # noqa: E402

from bench.doc import verdict, write_section  # noqa: E402
from webapp.accounts.caller import Caller  # noqa: E402
from webapp.accounts.models import Account  # noqa: E402
from webapp.cache import NullReadCache  # noqa: E402
from webapp.db import create_database, create_engine, prepare_database  # noqa: E402
from webapp.jobs.broker import queue_name  # noqa: E402
from webapp.jobs.models import Job  # noqa: E402
from webapp.jobs.queue import JobQueue  # noqa: E402
from webapp.lists.models import TaskList  # noqa: E402
from webapp.restore.schemas import RestoreJobCreate  # noqa: E402
from webapp.restore.service import RestoreJobService  # noqa: E402
from webapp.restore.trash import restore_batch  # noqa: E402
from webapp.settings import Settings  # noqa: E402
from webapp.tasks.models import Task  # noqa: E402
from webapp.tasks.queries import owned_by  # noqa: E402
from webapp.worker import JOB_KINDS  # noqa: E402

HEADING = "## Bulk restore (`make bench-restore`)"
BEGIN, END = "<!-- bench-restore:begin -->", "<!-- bench-restore:end -->"

MARIADB_URL = os.environ.get("BENCH_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306/test")
RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
DATABASE = "tasks_bench_restore"
TASKS = int(os.environ.get("BENCH_RESTORE_TASKS", "100000"))
ROUNDS = int(os.environ.get("BENCH_RESTORE_ROUNDS", "3"))
BATCH_SIZE = int(os.environ.get("RESTORE_BATCH_SIZE", "5000"))
STRICT = os.environ.get("BENCH_STRICT", "") in {"1", "true", "yes"}
POLL_SECONDS = 0.025
PURGE_TIMEOUT_SECONDS = 120
READY_LINE = "Worker process is ready for action."

TARGET_RATIO = 2.0
TARGET_GAP_SECONDS = 1.0
TARGET_RSS_MB = 150.0


@dataclass
class Round:
    raw_seconds: float
    raw_purge_seconds: float
    job_seconds: float
    max_gap_seconds: float
    batches_seen: int

    @property
    def ratio(self) -> float:
        return self.job_seconds / self.raw_seconds


def database_url() -> str:
    return MARIADB_URL.rsplit("/", 1)[0] + f"/{DATABASE}"


def redis_reachable() -> bool:
    if not REDIS_URL:
        return False
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


async def seed(engine: AsyncEngine, deleted_at: datetime.datetime) -> Caller:
    """One account, its Inbox, and all the tasks in it (in the trash); returns the
    account as the jobs' caller."""
    # Nobody logs in as it: no password hash matches "-".
    account = Account(email="bench@example.com", name="Bench", password_hash="-")  # noqa: S106
    async with AsyncSession(engine, expire_on_commit=False) as session:
        session.add(account)
        await session.flush()
        inbox = TaskList.inbox_for(account.id)
        session.add(inbox)
        await session.commit()
    rows = [
        {
            "id": uuid7(),
            "owner_id": account.id,
            "list_id": inbox.id,
            "title": f"Bench task {n}",
            "notes": "",
            "priority": n % 4,
            "version": 1,
            "created_at": deleted_at,
            "updated_at": deleted_at,
            "deleted_at": deleted_at,
        }
        for n in range(TASKS)
    ]
    async with AsyncSession(engine) as session:
        for start in range(0, TASKS, 5000):
            await session.execute(insert(Task), rows[start : start + 5000])
        await session.commit()
    return Caller(account.id)


async def trash_everything(engine: AsyncEngine, deleted_at: datetime.datetime) -> None:
    async with engine.begin() as connection:
        await connection.execute(update(Task).values(deleted_at=deleted_at))


async def count_in_trash(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        total = await connection.scalar(
            select(text("count(*)")).select_from(Task).where(Task.deleted_at.is_not(None))
        )
    return int(total or 0)


async def purge_idle(engine: AsyncEngine) -> bool:
    """Whether InnoDB's purge has caught up (its state line says "idle", or no committed
    transaction is left in the history list)."""
    async with engine.connect() as connection:
        status = str((await connection.execute(text("SHOW ENGINE INNODB STATUS"))).one()[2])
    state = re.search(r"Purge done for .* state: (.*)", status)
    history = re.search(r"History list length (\d+)", status)
    return bool(state and "idle" in state[1]) or bool(history and int(history[1]) == 0)


async def wait_for_purge(engine: AsyncEngine) -> float:
    """Wait until InnoDB has purged the old row versions of earlier statements; returns
    how long that took.

    Each measurement starts from a settled database: otherwise the purge of the previous
    UPDATE (putting 100,000 tasks back in the trash, or restoring them) would run during
    it, on the same two cores and index pages.
    """
    started = time.perf_counter()
    while not await purge_idle(engine):
        if time.perf_counter() - started > PURGE_TIMEOUT_SECONDS:
            break
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def raw_restore(engine: AsyncEngine, caller: Caller) -> float:
    """The floor: the worker's own UPDATE, once, for every row, in one transaction."""
    async with AsyncSession(engine) as session:
        started = time.perf_counter()
        restored = await restore_batch(
            session,
            owned_by(caller.account_id),
            deleted_before=datetime.datetime.now(datetime.UTC),
        )
        await session.commit()
        elapsed = time.perf_counter() - started
    assert restored == TASKS, f"raw UPDATE restored {restored} of {TASKS}"
    return elapsed


async def job_restore(
    engine: AsyncEngine, queue: JobQueue, caller: Caller
) -> tuple[float, float, int]:
    """A restore job of the whole trash: seconds to done, longest progress gap, steps."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        started = time.perf_counter()
        job = await RestoreJobService(session, NullReadCache(), caller, queue).create(
            RestoreJobCreate(all=True)
        )
    seen_at = [started]
    last_restored = 0
    query = select(Job.status, Job.done.label("restored"), Job.error).where(Job.id == job.id)
    async with engine.connect() as connection:
        while True:
            row = (await connection.execute(query)).one()
            await connection.commit()  # a fresh snapshot for the next read
            now = time.perf_counter()
            if row.restored != last_restored:
                seen_at.append(now)
                last_restored = row.restored
            if row.status in ("done", "failed"):
                break
            await asyncio.sleep(POLL_SECONDS)
    if row.status != "done" or row.restored != TASKS:
        raise SystemExit(f"the job ended {row.status} with {row.restored} restored: {row.error}")
    seen_at.append(now)
    gaps = [later - earlier for earlier, later in itertools.pairwise(seen_at)]
    return now - started, max(gaps), len(seen_at) - 2


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match[1]) / 1024 if match else 0.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@contextmanager
def worker(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m webapp worker`, until it says it is ready; stopped with SIGTERM after."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            while READY_LINE not in log_path.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the worker did not start; see {log_path}")
                time.sleep(0.1)
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def delete_queues(queue_name: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        for name in (queue_name, f"{queue_name}.DQ", f"{queue_name}.XQ"):
            channel.queue_delete(queue=name)
    finally:
        connection.close()


def markdown(
    rounds: list[Round], rss: dict[str, float], *, with_redis: bool, load_at_start: str
) -> str:
    ratio = statistics.median(r.ratio for r in rounds)
    gap = max(r.max_gap_seconds for r in rounds)
    worker_rss = max(rss.values())
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    lines = [
        f"Latest run: {started}, `make bench-restore`: {TASKS:,} tasks in the trash of "
        f"MariaDB, restored by one worker process (`python -m webapp worker`, RabbitMQ"
        f"{', Redis cache' if with_redis else ''}), RESTORE_BATCH_SIZE={BATCH_SIZE}; "
        f"{len(rounds)} rounds, each timing the raw UPDATE and then the job. "
        f"{platform.machine()}, {os.cpu_count()} cores; load average at the start "
        f"{load_at_start}, at the end {load}.",
        "",
        "| round | raw UPDATE s | raw UPDATE + its purge s | restore job s | job / raw "
        "| longest progress gap s | progress steps seen |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for number, r in enumerate(rounds, 1):
        lines.append(
            f"| {number} | {r.raw_seconds:.2f} | {r.raw_purge_seconds:.2f} "
            f"| {r.job_seconds:.2f} | {r.ratio:.2f} | {r.max_gap_seconds:.2f} "
            f"| {r.batches_seen} |"
        )
    lines += [
        "",
        "| worker process | peak RSS (VmHWM) |",
        "|---|---:|",
        *(f"| {name} | {mb:.0f} MB |" for name, mb in rss.items()),
        "",
        "**Targets:**",
        "",
        f"- restore job / raw UPDATE (median of the rounds) = {ratio:.2f} "
        f"(target <= {TARGET_RATIO:.0f}): {verdict(ratio <= TARGET_RATIO)}",
        f"- longest wait between visible progress steps = {gap:.2f} s "
        f"(target <= {TARGET_GAP_SECONDS:.0f} s): {verdict(gap <= TARGET_GAP_SECONDS)}",
        f"- worker peak RSS = {worker_rss:.0f} MB (target < {TARGET_RSS_MB:.0f} MB): "
        f"{verdict(worker_rss < TARGET_RSS_MB)}",
    ]
    return "\n".join(lines)


async def main() -> int:
    load_at_start = " ".join(f"{v:.2f}" for v in os.getloadavg())
    url = database_url()
    await create_database(url)
    settings = Settings(_env_file=None, database_url=url, db_reset_on_start=True)
    await asyncio.to_thread(prepare_database, settings)  # Alembic runs its own loop
    prefix = f"bench_restore_{uuid.uuid4().hex[:8]}."
    with_redis = redis_reachable()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BROKER_URL": RABBITMQ_URL,
        "BROKER_QUEUE_PREFIX": prefix,
        "REDIS_URL": REDIS_URL if with_redis else "",
        "CACHE_KEY_PREFIX": f"{prefix}cache:",
        "RESTORE_BATCH_SIZE": str(BATCH_SIZE),
        "WORKER_PROCESSES": "1",
        "WORKER_THREADS": "1",
        "DB_RESET_ON_START": "false",
        "LOG_LEVEL": "WARNING",
    }
    sender_settings = Settings(
        _env_file=None, database_url=url, broker_url=RABBITMQ_URL, broker_queue_prefix=prefix
    )
    engine = create_engine(settings)
    queue = JobQueue(sender_settings, JOB_KINDS)
    log_path = ROOT / "var" / "bench" / "restore-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    deleted_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    print(f"seeding {TASKS:,} trashed tasks in {DATABASE} ...", flush=True)
    caller = await seed(engine, deleted_at)
    rounds: list[Round] = []
    rss: dict[str, float] = {}
    try:
        with worker(env, log_path) as process:
            for number in range(1, ROUNDS + 1):
                await wait_for_purge(engine)
                raw = await raw_restore(engine, caller)
                raw_purge = raw + await wait_for_purge(engine)
                await trash_everything(engine, deleted_at)
                await wait_for_purge(engine)
                seconds, gap, steps = await job_restore(engine, queue, caller)
                await trash_everything(engine, deleted_at)
                assert await count_in_trash(engine) == TASKS
                rounds.append(Round(raw, raw_purge, seconds, gap, steps))
                print(
                    f"round {number}: raw {raw:.2f} s (with its purge {raw_purge:.2f} s), "
                    f"job {seconds:.2f} s ({seconds / raw:.2f}x), "
                    f"longest progress gap {gap:.2f} s",
                    flush=True,
                )
            rss["supervisor (dramatiq main process)"] = peak_rss_mb(process.pid)
            for child in children(process.pid):
                rss[f"worker process (pid {child})"] = peak_rss_mb(child)
    finally:
        await queue.close()
        await engine.dispose()
        delete_queues(queue_name(sender_settings, "restore"))
    table = markdown(rounds, rss, with_redis=with_redis, load_at_start=load_at_start)
    print(table)
    write_section(table, heading=HEADING, begin=BEGIN, end=END)
    missed = "**MISSED**" in table
    return 1 if missed and STRICT else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
