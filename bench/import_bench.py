"""`make bench-import`: an import of 100,000 tasks from CSV through a real worker, against
a bulk `INSERT ... VALUES` of the same rows in batches of 1,000, on MariaDB, in one run;
and an export of the 100,000 tasks, with its memory.

1. Rebuilds its own MariaDB database (`tasks_bench_import`) from the migrations, with two
   accounts (one for the floor, one for the job).
2. Writes a CSV of BENCH_IMPORT_TASKS (100,000) tasks in 10 lists, titles, notes,
   priorities and due dates.
3. The floor: the same rows (ids, lists, fields) inserted with `INSERT ... VALUES` in
   batches of 1,000, each batch committed.
4. The job: from `ImportService.create` (the parse and the storing of the parts, as the
   request does) to `done`, on one worker process (`python -m webapp worker`, RabbitMQ,
   Redis as the cache when reachable); then the worker's peak RSS (VmHWM).
5. The export: the job account's 100,000 tasks as CSV and as JSON through
   `webapp.portability.export.chunks` (the API's stream), with tracemalloc's peak.

Writes the table to docs/benchmarks.md between its markers. Settings: BENCH_MARIADB_URL,
BENCH_RABBITMQ_URL, BENCH_REDIS_URL, BENCH_IMPORT_TASKS, BENCH_STRICT=1.
"""

from __future__ import annotations

import asyncio
import csv
import datetime
import io
import os
import platform
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession  # noqa: E402
from uuid_utils.compat import uuid7  # noqa: E402

from bench.doc import verdict, write_section  # noqa: E402
from bench.restore_bench import (  # noqa: E402
    RABBITMQ_URL,
    REDIS_URL,
    children,
    delete_queues,
    peak_rss_mb,
    redis_reachable,
    worker,
)
from webapp.accounts.caller import Caller  # noqa: E402
from webapp.accounts.models import Account  # noqa: E402
from webapp.cache import NullReadCache  # noqa: E402
from webapp.db import create_database, create_engine, prepare_database  # noqa: E402
from webapp.jobs.broker import queue_name  # noqa: E402
from webapp.jobs.models import Job  # noqa: E402
from webapp.jobs.queue import JobQueue  # noqa: E402
from webapp.lists.models import TaskList  # noqa: E402
from webapp.portability.export import ExportService, chunks  # noqa: E402
from webapp.portability.service import ImportService  # noqa: E402
from webapp.settings import Settings  # noqa: E402
from webapp.tasks.models import Priority, Task  # noqa: E402
from webapp.worker import JOB_KINDS  # noqa: E402

HEADING = "## Import and export (`make bench-import`)"
BEGIN, END = "<!-- bench-import:begin -->", "<!-- bench-import:end -->"
MARIADB_URL = os.environ.get("BENCH_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306/test")
DATABASE = "tasks_bench_import"
TASKS = int(os.environ.get("BENCH_IMPORT_TASKS", "100000"))
STRICT = os.environ.get("BENCH_STRICT", "") in {"1", "true", "yes"}
LISTS = 10
FLOOR_BATCH = 1000
TARGET_RATIO = 3.0
TARGET_RSS_MB = 200.0
PRIORITIES = ("none", "low", "medium", "high")


def database_url() -> str:
    return MARIADB_URL.rsplit("/", 1)[0] + f"/{DATABASE}"


def the_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["list", "title", "notes", "priority", "due_date"])
    start = datetime.date(2027, 1, 1)
    for n in range(TASKS):
        due = (start + datetime.timedelta(days=n % 365)).isoformat() if n % 3 else ""
        writer.writerow(
            [
                f"List {n % LISTS}",
                f"Imported task {n}",
                f"notes of {n}" if n % 2 else "",
                PRIORITIES[n % 4],
                due,
            ]
        )
    return out.getvalue().encode()


async def account(engine: AsyncEngine, email: str) -> Caller:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        made = Account(email=email, name="Bench", password_hash="-")  # noqa: S106
        session.add(made)
        await session.flush()
        session.add(TaskList.inbox_for(made.id))
        await session.commit()
    return Caller(made.id)


async def floor(engine: AsyncEngine, caller: Caller) -> float:
    """The same rows by INSERT ... VALUES, 1,000 a statement, each batch committed."""
    now = datetime.datetime.now(datetime.UTC)
    lists = []
    async with AsyncSession(engine, expire_on_commit=False) as session:
        for n in range(LISTS):
            made = TaskList(
                owner_id=caller.account_id,
                name=f"List {n}",
                is_inbox=False,
                version=1,
                created_at=now,
                updated_at=now,
            )
            session.add(made)
            lists.append(made)
        await session.commit()
    start = datetime.date(2027, 1, 1)
    rows = [
        {
            "id": uuid7(),
            "owner_id": caller.account_id,
            "list_id": lists[n % LISTS].id,
            "title": f"Imported task {n}",
            "notes": f"notes of {n}" if n % 2 else "",
            "priority": int(Priority.from_label(PRIORITIES[n % 4])),
            "due_date": start + datetime.timedelta(days=n % 365) if n % 3 else None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(TASKS)
    ]
    started = time.perf_counter()
    async with AsyncSession(engine) as session:
        for at in range(0, TASKS, FLOOR_BATCH):
            await session.execute(insert(Task), rows[at : at + FLOOR_BATCH])
            await session.commit()
    return time.perf_counter() - started


async def import_job(engine: AsyncEngine, queue: JobQueue, caller: Caller, data: bytes) -> float:
    started = time.perf_counter()
    async with AsyncSession(engine, expire_on_commit=False) as session:
        job = await ImportService(session, NullReadCache(), caller, queue).create(
            data, filename="bench.csv"
        )
    query = select(Job.status, Job.done, Job.skipped, Job.error).where(Job.id == job.id)
    async with engine.connect() as connection:
        while True:
            row = (await connection.execute(query)).one()
            await connection.commit()
            if row.status in ("done", "failed"):
                break
            await asyncio.sleep(0.05)
    if row.status != "done" or row.done != TASKS:
        raise SystemExit(f"the job ended {row.status} with {row.done} imported: {row.error}")
    return time.perf_counter() - started


async def export(engine: AsyncEngine, caller: Caller, format: str) -> tuple[float, float, int]:
    """Seconds, tracemalloc peak MB and bytes of an export streamed and thrown away."""
    async with AsyncSession(engine) as session:
        plan = await ExportService(session, caller).plan(format)  # type: ignore[arg-type]
    tracemalloc.start()
    started = time.perf_counter()
    size = 0
    async for chunk in chunks(engine, plan):
        size += len(chunk)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 1024 / 1024, size


async def main() -> int:
    load_at_start = " ".join(f"{v:.2f}" for v in os.getloadavg())
    url = database_url()
    await create_database(url)
    settings = Settings(_env_file=None, database_url=url, db_reset_on_start=True)
    await asyncio.to_thread(prepare_database, settings)
    prefix = f"bench_import_{uuid.uuid4().hex[:8]}."
    with_redis = redis_reachable()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BROKER_URL": RABBITMQ_URL,
        "BROKER_QUEUE_PREFIX": prefix,
        "REDIS_URL": REDIS_URL if with_redis else "",
        "CACHE_KEY_PREFIX": f"{prefix}cache:",
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
    log_path = ROOT / "var" / "bench" / "import-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    data = the_csv()
    rss: dict[str, float] = {}
    try:
        floor_caller = await account(engine, "floor@example.com")
        job_caller = await account(engine, "job@example.com")
        raw = await floor(engine, floor_caller)
        print(f"bulk insert, {FLOOR_BATCH} rows a statement: {raw:.2f} s", flush=True)
        with worker(env, log_path) as process:
            job_seconds = await import_job(engine, queue, job_caller, data)
            print(f"import job: {job_seconds:.2f} s ({job_seconds / raw:.2f}x)", flush=True)
            rss["supervisor (dramatiq main process)"] = peak_rss_mb(process.pid)
            for child in children(process.pid):
                rss[f"worker process (pid {child})"] = peak_rss_mb(child)
        exports = {fmt: await export(engine, job_caller, fmt) for fmt in ("csv", "json", "ics")}
    finally:
        await queue.close()
        await engine.dispose()
        delete_queues(queue_name(sender_settings, "import"))
    ratio = job_seconds / raw
    worker_rss = max(rss.values())
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Latest run: {when}, `make bench-import`: {TASKS:,} tasks in {LISTS} lists from a "
        f"CSV of {len(data) / 1024 / 1024:.1f} MiB, imported by one worker process "
        f"(`python -m webapp worker`, RabbitMQ{', Redis cache' if with_redis else ''}) on "
        f"MariaDB; {platform.machine()}, {os.cpu_count()} cores; load average at the start "
        f"{load_at_start}, at the end {load}.",
        "",
        "| what | seconds |",
        "|---|---:|",
        f"| bulk INSERT ... VALUES, {FLOOR_BATCH:,} rows a statement, each committed | {raw:.2f} |",
        f"| import job: parse + store parts (the request) to `done` | {job_seconds:.2f} |",
        "",
        "| worker process | peak RSS (VmHWM) |",
        "|---|---:|",
        *(f"| {name} | {mb:.0f} MB |" for name, mb in rss.items()),
        "",
        "| export of the job's tasks | seconds | size | Python heap peak (tracemalloc) |",
        "|---|---:|---:|---:|",
        *(
            f"| {fmt} | {s:.2f} | {size / 1024 / 1024:.1f} MiB | {peak:.1f} MB |"
            for fmt, (s, peak, size) in exports.items()
        ),
        "",
        "**Targets:**",
        "",
        f"- import job / bulk INSERT = {ratio:.2f} (target <= {TARGET_RATIO:.0f}): "
        f"{verdict(ratio <= TARGET_RATIO)}",
        f"- worker peak RSS = {worker_rss:.0f} MB (target < {TARGET_RSS_MB:.0f} MB): "
        f"{verdict(worker_rss < TARGET_RSS_MB)}",
        "- export memory flat: the heap peak is a batch's worth, far below the file's size: "
        + verdict(all(peak < size / 1024 / 1024 / 4 for _, peak, size in exports.values())),
    ]
    table = "\n".join(lines)
    print(table)
    write_section(table, heading=HEADING, begin=BEGIN, end=END)
    return 1 if STRICT and "**MISSED**" in table else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
