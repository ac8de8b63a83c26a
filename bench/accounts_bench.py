"""`make bench-accounts`: does one account's list get slower when the database holds
everyone else's tasks too? Measured with wrk through the real server, cache off, in one run.

1. Rebuilds two MariaDB databases from the migrations:
   - `tasks_bench_accounts_many`: BENCH_ACCOUNTS_TASKS (1,000,000) tasks over
     BENCH_ACCOUNTS_ACCOUNTS (2,000) accounts, each with its Inbox; the accounts' tasks
     interleaved in time (creation times), inserted account by account (see `seed`);
   - `tasks_bench_accounts_one`: only the measured account, with the same number of tasks
     (tasks / accounts, 500), made the same way.
   Rows go in by multi-row INSERTs of BATCH rows (the driver's executemany).
2. Starts the app on each (`python -m webapp serve`: Granian, one worker, no Redis and
   CACHE_TTL_SECONDS=0: every request reads MariaDB), side by side.
3. `GET /api/tasks` (the first page of 50, newest first) as the measured account, with its
   bearer token: 32 connections, BENCH_PASSES (2) runs of BENCH_SECONDS (10) seconds each,
   the two servers in one order and then the other, after a warm-up.
4. Prints and writes to docs/benchmarks.md (between its markers; the rest is kept) the
   req/s, p50, p99 and the ratio many / one (target >= 0.8), with the plan MariaDB chooses
   for the page query on the big database.

Settings: BENCH_MARIADB_URL (server; the database names are replaced),
BENCH_ACCOUNTS_TASKS, BENCH_ACCOUNTS_ACCOUNTS, BENCH_SECONDS, BENCH_PASSES, BENCH_PORT,
BENCH_STRICT=1 (exit 1 when the target is missed).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import re
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession  # noqa: E402
from uuid_utils.compat import uuid7  # noqa: E402

from bench.doc import verdict, write_section  # noqa: E402
from bench.run import (  # noqa: E402
    CONNECTIONS,
    PASSES,
    SECONDS,
    WARMUP_SECONDS,
    Measured,
    app_env,
    combine,
    free_port,
    get,
    measure,
    serving,
)
from webapp.accounts.caller import Caller  # noqa: E402
from webapp.accounts.models import Account  # noqa: E402
from webapp.accounts.service import AccountService  # noqa: E402
from webapp.accounts.tokens import ApiTokenService  # noqa: E402
from webapp.db import create_database, create_engine, prepare_database  # noqa: E402
from webapp.lists.models import TaskList  # noqa: E402
from webapp.settings import Settings  # noqa: E402
from webapp.tasks.models import Task  # noqa: E402

HEADING = "## Many accounts (`make bench-accounts`)"
BEGIN, END = "<!-- bench-accounts:begin -->", "<!-- bench-accounts:end -->"
LOGS = ROOT / "var" / "bench"

MARIADB_URL = os.environ.get("BENCH_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306/test")
TASKS = int(os.environ.get("BENCH_ACCOUNTS_TASKS", "1000000"))
ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS_ACCOUNTS", "2000"))
PER_ACCOUNT = TASKS // ACCOUNTS
STRICT = os.environ.get("BENCH_STRICT", "") in {"1", "true", "yes"}
BATCH = 5000
TARGET = 0.8
SETTLE_TIMEOUT_SECONDS = 180
SETTLE_DIRTY_PERCENT = 10
SETTLE_FLAT_SECONDS = 5
# With BENCH_ACCOUNTS_REUSE=1 the databases of the last run (same sizes) are measured
# again, without seeding; their tokens are kept here.
SEEDED = LOGS / "accounts-seeded.json"
REUSE = os.environ.get("BENCH_ACCOUNTS_REUSE", "") in {"1", "true", "yes"}
EMAIL = "measured@example.com"
PASSWORD = "bench password, long enough"  # noqa: S105 (a throwaway account)
PAGE_PATH = "/api/tasks"


def url_of(database: str) -> str:
    return MARIADB_URL.rsplit("/", 1)[0] + f"/{database}"


async def prepare(url: str) -> AsyncEngine:
    await create_database(url)
    settings = Settings(_env_file=None, database_url=url, db_reset_on_start=True)
    await asyncio.to_thread(prepare_database, settings)  # Alembic runs its own loop
    # Without the app's statement deadline: a batch of the bulk insert may take longer.
    return create_engine(Settings(_env_file=None, database_url=url), pooled=False)


async def seed(url: str, accounts: int, measured_index: int) -> str:
    """`accounts` accounts with PER_ACCOUNT tasks each in their Inbox; the one at
    `measured_index` is made through AccountService (a password, an API token). Returns
    that account's token."""
    engine = await prepare(url)
    started = time.perf_counter()
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            account = await AccountService(session).create(EMAIL, PASSWORD, name="Measured")
            token = (await ApiTokenService(session, Caller(account.id)).create("bench")).secret
            inbox = await session.scalar(
                select(TaskList.id).where(TaskList.owner_id == account.id, TaskList.is_inbox)
            )
        assert inbox is not None
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        owners: list[tuple[UUID, UUID]] = []
        account_rows, list_rows = [], []
        for n in range(accounts):
            if n == measured_index:
                owners.append((account.id, inbox))
                continue
            account_id, list_id = uuid7(), uuid7()
            owners.append((account_id, list_id))
            account_rows.append(
                {
                    "id": account_id,
                    "email": f"user{n:05d}@example.com",
                    "name": f"User {n}",
                    "password_hash": "-",  # nobody logs in as them
                    "is_admin": False,
                    "session_epoch": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            list_rows.append(
                {
                    "id": list_id,
                    "owner_id": account_id,
                    "name": "Inbox",
                    "is_inbox": True,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        async with engine.begin() as connection:
            for start in range(0, len(account_rows), BATCH):
                await connection.execute(insert(Account), account_rows[start : start + BATCH])
            for start in range(0, len(list_rows), BATCH):
                await connection.execute(insert(TaskList), list_rows[start : start + BATCH])
        # The tasks, account by account. Their creation times interleave (task k of
        # account a was made at k * accounts + a seconds), as in a database in use; their
        # rows go in in key order (UUIDv7 ids, made in this order, and owner-led indexes),
        # so every index grows at its end. Interleaved rows would be spread over the whole
        # table, but inserting them in that order makes every batch a random write into
        # indexes larger than the buffer pool, which here (128 MB, no change buffering)
        # slowed the seeding to minutes per 100,000 rows.
        total = accounts * PER_ACCOUNT
        first = now - datetime.timedelta(seconds=total)
        rows: list[dict[str, object]] = []
        done = 0
        for a, (owner, list_id) in enumerate(owners):
            for k in range(PER_ACCOUNT):
                created = first + datetime.timedelta(seconds=k * accounts + a)
                rows.append(
                    {
                        "id": uuid7(),
                        "owner_id": owner,
                        "list_id": list_id,
                        "title": f"Task {k:05d} of account {a}",
                        "notes": "Remember the details. " * (k % 4),
                        "priority": k % 4,
                        "due_date": None,
                        "completed_at": created if k % 3 == 0 else None,
                        "deleted_at": created if k % 10 == 0 else None,
                        "created_at": created,
                        "updated_at": created,
                        "version": 1,
                    }
                )
                if len(rows) == BATCH:
                    async with engine.begin() as connection:
                        await connection.execute(insert(Task), rows)
                    done += len(rows)
                    rows = []
                    if done % 100_000 == 0:
                        print(
                            f"    {done:>9,} tasks, {time.perf_counter() - started:5.0f} s",
                            flush=True,
                        )
        if rows:
            async with engine.begin() as connection:
                await connection.execute(insert(Task), rows)
    finally:
        await engine.dispose()
    print(
        f"    {url.rsplit('/', 1)[1]}: {accounts:,} accounts, {accounts * PER_ACCOUNT:,} tasks "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return token


async def settle(url: str) -> float:
    """Wait (at most SETTLE_TIMEOUT_SECONDS) until InnoDB has written back what the bulk
    insert left: no history to purge and at most SETTLE_DIRTY_PERCENT of the buffer pool
    dirty (or no fewer dirty pages for SETTLE_FLAT_SECONDS: the server is shared). Measured before that, the big database's rows competed with its own
    background flushing for the two cores (0.77 in a first run, the queries themselves
    costing the same on both databases a minute later). Returns the seconds waited."""
    engine = create_engine(Settings(_env_file=None, database_url=url), pooled=False)
    started = time.perf_counter()
    fewest = (1 << 62, started)  # the fewest dirty pages seen, and when
    try:
        async with engine.connect() as connection:
            while time.perf_counter() - started < SETTLE_TIMEOUT_SECONDS:
                status: dict[str, str] = dict(
                    (
                        await connection.execute(
                            text("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_%'")
                        )
                    )
                    .tuples()
                    .all()
                )
                innodb = str((await connection.execute(text("SHOW ENGINE INNODB STATUS"))).one()[2])
                history = re.search(r"History list length (\d+)", innodb)
                dirty = int(status["Innodb_buffer_pool_pages_dirty"])
                total = int(status["Innodb_buffer_pool_pages_total"])
                idle = history is None or int(history[1]) == 0
                # The server is shared: others' writes may keep pages dirty. Settled also
                # once the dirty pages have stopped going down.
                if dirty < fewest[0]:
                    fewest = (dirty, time.perf_counter())
                flat = time.perf_counter() - fewest[1] > SETTLE_FLAT_SECONDS
                if idle and (dirty <= total * SETTLE_DIRTY_PERCENT / 100 or flat):
                    break
                await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def page_plan(url: str) -> str:
    """What MariaDB's EXPLAIN says of the page query (the table's access and index)."""
    engine = create_engine(Settings(_env_file=None, database_url=url))
    try:
        async with engine.connect() as connection:
            owner = await connection.scalar(select(Account.id).where(Account.email == EMAIL))
            assert owner is not None
            # The app's page query (webapp.tasks.queries.load_page) for this account.
            result = await connection.execute(
                text(
                    "EXPLAIN SELECT * FROM task WHERE owner_id = :owner AND deleted_at IS NULL "
                    "ORDER BY created_at DESC, id DESC LIMIT 50"
                ),
                {"owner": owner.bytes},
            )
            row = result.mappings().one()
            return f"type={row['type']}, key={row['key']}, rows={row['rows']}, Extra={row['Extra']}"
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Database:
    key: str
    label: str
    url: str
    accounts: int


def markdown(
    started: datetime.datetime,
    load_at_start: str,
    seconds_to_seed: float,
    settled: float,
    databases: list[Database],
    results: dict[str, Measured],
    plan: str,
) -> str:
    many, one = results["many"], results["one"]
    ratio = many.rps / one.rps
    lines = [
        f"Latest run: {started:%Y-%m-%d %H:%M} UTC, `make bench-accounts`: `GET {PAGE_PATH}` "
        f"(first page of 50, newest first) as one account with its bearer token, cache off "
        f"(no Redis, CACHE_TTL_SECONDS=0), one Granian worker per database, wrk "
        f"{CONNECTIONS} connections; {PASSES} runs of {SECONDS} s per database after "
        f"{WARMUP_SECONDS} s of warm-up, the two in one order then the other. "
        f"{platform.machine()}, {os.cpu_count()} cores; load average at the start "
        f"{load_at_start}, at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}. "
        + (
            "Databases of an earlier run (BENCH_ACCOUNTS_REUSE=1), seeded in "
            if REUSE
            else "Seeding both databases took "
        )
        + f"{seconds_to_seed:.0f} s; the measuring began once "
        f"InnoDB had flushed and purged what the seeding left ({settled:.0f} s later).",
        "",
        "| database | accounts | tasks | req/s | p50 ms | p99 ms | failed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for database in databases:
        m = results[database.key]
        lines.append(
            f"| {database.label} | {database.accounts:,} | "
            f"{database.accounts * PER_ACCOUNT:,} | {m.rps:,.0f} | {m.p50_ms:.2f} | "
            f"{m.p99_ms:.2f} | {m.failures} |"
        )
    lines += [
        "",
        f"MariaDB's plan for the page query on the big database: {plan}.",
        "",
        "**Target:**",
        "",
        f"- the account's list with {ACCOUNTS:,} accounts / with its own tasks only = "
        f"{ratio:.2f} (target ≥ {TARGET:.2f}): {verdict(ratio >= TARGET)}",
    ]
    return "\n".join(lines)


def main() -> int:
    started = datetime.datetime.now(datetime.UTC)
    load_at_start = " ".join(f"{v:.2f}" for v in os.getloadavg())
    LOGS.mkdir(parents=True, exist_ok=True)
    databases = [
        Database("many", f"{ACCOUNTS:,} accounts", url_of("tasks_bench_accounts_many"), ACCOUNTS),
        Database("one", "the measured account alone", url_of("tasks_bench_accounts_one"), 1),
    ]
    print(f"1. seeding ({PER_ACCOUNT:,} tasks an account)", flush=True)
    seeding = time.perf_counter()
    sizes = {"tasks": TASKS, "accounts": ACCOUNTS}
    previous = json.loads(SEEDED.read_text()) if SEEDED.exists() else {}
    if REUSE and previous.get("sizes") == sizes:
        print("   (BENCH_ACCOUNTS_REUSE=1: the databases of the last run)", flush=True)
        tokens: dict[str, str] = previous["tokens"]
        seconds_to_seed = float(previous["seconds"])
    else:
        tokens = {
            database.key: asyncio.run(seed(database.url, database.accounts, database.accounts // 2))
            for database in databases
        }
        seconds_to_seed = time.perf_counter() - seeding
        SEEDED.write_text(
            json.dumps({"sizes": sizes, "tokens": tokens, "seconds": seconds_to_seed})
        )
    waited = asyncio.run(settle(databases[0].url))
    print(f"   InnoDB settled after {waited:.0f} s", flush=True)
    plan = asyncio.run(page_plan(databases[0].url))
    print(f"   page query plan on the big database: {plan}", flush=True)

    print("2. the app on each, cache off, side by side", flush=True)
    with ExitStack() as stack:
        bases: dict[str, str] = {}
        for database in databases:
            port = free_port()
            env = app_env(database.url, port, redis_url="", ttl=0)
            command = [sys.executable, "-m", "webapp", "serve", "--no-migrate"]
            bases[database.key] = stack.enter_context(
                serving(command, env, port, f"accounts-{database.key}")
            )
        headers = {key: {"Authorization": f"Bearer {token}"} for key, token in tokens.items()}
        for key, base in bases.items():
            status, response_headers, body = get(base + PAGE_PATH, headers[key])
            page = json.loads(body) if status == 200 else {}
            if (
                len(page.get("items", ())) != 50
                or {k.lower(): v for k, v in response_headers.items()}.get("x-cache") != "MISS"
            ):
                raise SystemExit(f"{base}{PAGE_PATH}: not a page of 50 read from MariaDB")
        runs: dict[str, list[Measured]] = {database.key: [] for database in databases}
        for number in range(PASSES):
            print(f"  pass {number + 1} of {PASSES}", flush=True)
            for database in databases if number % 2 == 0 else databases[::-1]:
                runs[database.key].append(
                    measure(
                        bases[database.key] + PAGE_PATH,
                        warm_up=number == 0,
                        headers=headers[database.key],
                    )
                )
    results = {key: combine(found) for key, found in runs.items()}
    table = markdown(started, load_at_start, seconds_to_seed, waited, databases, results, plan)
    print()
    print(table)
    write_section(table, heading=HEADING, begin=BEGIN, end=END)
    missed = results["many"].rps / results["one"].rps < TARGET
    return 1 if missed and STRICT else 0


if __name__ == "__main__":
    sys.exit(main())
