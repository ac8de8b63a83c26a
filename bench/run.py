"""`make bench`: what the read cache buys, measured with wrk on loopback, in one run.

1. Serves a Litestar hello world with Granian and with Uvicorn and keeps the faster.
2. Prepares a database of its own (MariaDB `tasks_bench` where reachable, else a SQLite
   file under var/bench/), migrated and seeded with one account, its Inbox holding
   10,000 tasks, and a personal API token of that account.
3. Starts the app as the cluster does (`python -m webapp serve`: Granian, one worker,
   LOG_LEVEL=WARNING) four times over, side by side: with Redis (its own key prefix),
   the same with LOG_LEVEL=INFO (what users run by default: one access line a request),
   with the cache off (CACHE_TTL_SECONDS=0) and with the in-process cache. It logs in on
   each through the log-in form (for the HTML rows' session cookie); wrk sends
   `Authorization: Bearer <token>` to /api and `Cookie: tasks_session=...` to the pages.
   Each row is measured with 32 connections in BENCH_PASSES (2) runs of BENCH_SECONDS
   (10) seconds, the rows in one order and then in the reverse one, after a short
   warm-up.
4. Prints requests/s, p50, p99 and the ratio to the ceiling (a trivial JSON endpoint of
   the same app), checks the targets, counts the openings of the Redis cache's circuit
   breaker in the servers' logs, and writes the table to docs/benchmarks.md between its
   markers (the rest of that page, the findings, is kept).

Only 127.0.0.1 is ever targeted; every server started is stopped (its process group) at
the end. Settings: BENCH_SECONDS, BENCH_PASSES, BENCH_PORT (first port tried, 8201),
BENCH_REDIS_URL, BENCH_MARIADB_URL, BENCH_STRICT=1 (exit 1 when a target is missed).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine  # noqa: E402

from bench.doc import write_section  # noqa: E402
from webapp.accounts.caller import Caller  # noqa: E402
from webapp.accounts.service import AccountService  # noqa: E402
from webapp.accounts.sessions import SESSION_COOKIE  # noqa: E402
from webapp.accounts.tokens import ApiTokenService  # noqa: E402
from webapp.db import create_database, create_engine  # noqa: E402
from webapp.lists.models import TaskList  # noqa: E402
from webapp.settings import Settings  # noqa: E402
from webapp.tasks.models import Priority, Task  # noqa: E402

LOGS = ROOT / "var" / "bench"
REPORTER = ROOT / "bench" / "report.lua"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
PASSES = int(os.environ.get("BENCH_PASSES", "2"))
WARMUP_SECONDS = 2
CONNECTIONS = 32
TASKS = 10_000
FIRST_PORT = int(os.environ.get("BENCH_PORT", "8201"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
MARIADB_URL = os.environ.get("BENCH_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306/tasks_bench")
SQLITE_URL = f"sqlite+aiosqlite:///{ROOT / 'var' / 'bench' / 'tasks.sqlite3'}"
KEY_PREFIX = "bench:tasks:"
EMAIL = "bench@example.com"
PASSWORD = "bench password, long enough"  # noqa: S105 (a throwaway account)
VENV_BIN = Path(sys.executable).parent

PACKAGES = (
    "litestar",
    "granian",
    "uvicorn",
    "msgspec",
    "redis",
    "sqlalchemy",
    "advanced-alchemy",
    "asyncmy",
    "aiosqlite",
    "jinja2",
)


# ------------------------------------------------------------------ measuring


@dataclass(frozen=True)
class Measured:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int


def wrk(url: str, seconds: int, headers: dict[str, str]) -> Measured:
    """wrk with 32 connections for `seconds`, sending `headers`: requests/s and latency
    percentiles."""
    assert urlsplit(url).hostname == "127.0.0.1", "the benchmark only targets loopback"
    command = [
        "wrk",
        *(option for name, value in headers.items() for option in ("-H", f"{name}: {value}")),
        "--threads",
        "1",
        "--connections",
        str(CONNECTIONS),
        "--duration",
        f"{seconds}s",
        "--timeout",
        "2s",
        "--script",
        str(REPORTER),
        url,
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH "))
    found = json.loads(line.removeprefix("BENCH "))
    return Measured(
        rps=found["requests"] / (found["duration_us"] / 1e6),
        p50_ms=found["p50_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        requests=found["requests"],
        failures=found["socket_errors"] + found["non_2xx"],
    )


def measure(url: str, *, warm_up: bool = True, headers: dict[str, str] | None = None) -> Measured:
    if warm_up:
        wrk(url, WARMUP_SECONDS, headers or {})
    result = wrk(url, SECONDS, headers or {})
    print(
        f"    {url:<40} {result.rps:>9,.0f} req/s  p50 {result.p50_ms:6.2f} ms"
        f"  p99 {result.p99_ms:6.2f} ms",
        flush=True,
    )
    if result.failures:
        print(f"    ({result.failures} requests failed: non-2xx or socket errors)", flush=True)
    return result


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return response.status, dict(response.headers), response.read()


# ------------------------------------------------------------------ servers


def free_port() -> int:
    for port in range(FIRST_PORT, FIRST_PORT + 100):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port from {FIRST_PORT}")


@contextmanager
def serving(command: list[str], env: dict[str, str], port: int, name: str) -> Iterator[str]:
    """Run a server in a process group of its own; stop that group (and only it) after.
    Its output goes to var/bench/<name>.log."""
    log = LOGS / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=output, stderr=output, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited ({process.returncode}); see {log}")
            try:
                get(base + "/")
                break
            except urllib.error.HTTPError:
                break  # it answers, which is all that is asked here
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"the server did not answer on {base}; see {log}") from None
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def compare_servers() -> dict[str, Measured]:
    """The hello world on each candidate server, one worker each."""
    port = free_port()
    candidates = {
        "granian": [
            str(VENV_BIN / "granian"),
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
            "bench.hello:app",
        ],
        "uvicorn": [
            str(VENV_BIN / "uvicorn"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
            "bench.hello:app",
        ],
    }
    results = {}
    for name, command in candidates.items():
        print(f"  {name}", flush=True)
        with serving(command, dict(os.environ), port, f"hello-{name}") as base:
            results[name] = measure(base + "/")
    return results


def app_env(
    database_url: str, port: int, *, redis_url: str, ttl: int, log_level: str = "WARNING"
) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": database_url,
        "DB_RESET_ON_START": "false",
        "REDIS_URL": redis_url,
        "CACHE_TTL_SECONDS": str(ttl),
        "CACHE_KEY_PREFIX": KEY_PREFIX,
        "BROKER_URL": "",
        "SECRET_KEY": "bench-" + "k" * 40,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": log_level,
        "LOG_FORMAT": "json",
    }


@contextmanager
def app(
    database_url: str,
    name: str,
    *,
    redis_url: str = "",
    ttl: int = 300,
    log_level: str = "WARNING",
) -> Iterator[str]:
    port = free_port()
    env = app_env(database_url, port, redis_url=redis_url, ttl=ttl, log_level=log_level)
    command = [sys.executable, "-m", "webapp", "serve", "--no-migrate"]
    with serving(command, env, port, f"app-{name}") as base:
        yield base


# ------------------------------------------------------------------ data


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


def migrate(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "DB_RESET_ON_START": "true"}
    subprocess.run(
        [sys.executable, "-m", "webapp", "migrate"], env=env, cwd=ROOT, check=True, timeout=300
    )


@dataclass(frozen=True)
class Seeded:
    account_id: str
    token: str


async def seed(database_url: str) -> Seeded:
    """One account (EMAIL, PASSWORD) with an API token, and 10,000 tasks in its Inbox over
    a few months: a third completed, one in ten in the trash."""
    settings = Settings(_env_file=None, database_url=database_url)
    engine = create_engine(settings)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    words = ("water the plants", "call the bank", "renew passport", "buy milk", "fix bike")
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            account = await AccountService(session).create(EMAIL, PASSWORD, name="Bench")
            token = (await ApiTokenService(session, Caller(account.id)).create("bench")).secret
            inbox_id = await session.scalar(
                select(TaskList.id).where(TaskList.owner_id == account.id, TaskList.is_inbox)
            )
        rows = []
        for n in range(TASKS):
            created = now - datetime.timedelta(minutes=TASKS - n)
            rows.append(
                {
                    "owner_id": account.id,
                    "list_id": inbox_id,
                    "title": f"Task {n:05d}: {words[n % len(words)]}",
                    "notes": "Remember the details. " * (n % 4),
                    "priority": int(Priority(n % 4)),
                    "due_date": (
                        (created + datetime.timedelta(days=n % 30)).date() if n % 5 == 0 else None
                    ),
                    "completed_at": created + datetime.timedelta(hours=1) if n % 3 == 0 else None,
                    "deleted_at": created + datetime.timedelta(hours=2) if n % 10 == 0 else None,
                    "created_at": created,
                    "updated_at": created,
                    "version": 1,
                }
            )
        async with AsyncSession(engine) as session:
            for start in range(0, len(rows), 1000):
                await session.execute(insert(Task), rows[start : start + 1000])
            await session.commit()
    finally:
        await engine.dispose()
    return Seeded(account_id=str(account.id), token=token)


def log_in(base: str) -> str:
    """Log in as EMAIL through the log-in form, as a browser does; the session cookie's
    value."""
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/login").text
        match = re.search(r'name="_csrf_token" value="([^"]+)"', page)
        if match is None:
            raise SystemExit(f"{base}/login has no form with a CSRF token")
        response = client.post(
            "/login",
            data={"_csrf_token": match[1], "email": EMAIL, "password": PASSWORD},
            follow_redirects=False,
        )
        cookie = client.cookies.get(SESSION_COOKIE)
        if response.status_code != 303 or not cookie:
            raise SystemExit(f"logging in on {base} failed: {response.status_code}")
        return cookie


def forget_cache() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# ------------------------------------------------------------------ checks before measuring


def expect_json_list(base: str, cache: str, credentials: dict[str, str]) -> list[str]:
    get(base + "/api/tasks", credentials)  # fills the cache when there is one
    status, headers, body = get(base + "/api/tasks", credentials)
    page = json.loads(body)
    if status != 200 or len(page["items"]) != 50 or page["total"] < TASKS * 0.8:
        raise SystemExit(f"{base}/api/tasks is not a page of 50 of the seeded tasks")
    if headers.get("X-Cache", headers.get("x-cache")) != cache:
        raise SystemExit(f"{base}/api/tasks: expected X-Cache {cache}, got {headers}")
    return [item["title"] for item in page["items"]]


def html_page_state(base: str, titles: list[str], credentials: dict[str, str]) -> str:
    """'ok' when `/` renders the 50 tasks of the first page, else what it does instead."""
    status, _, body = get(base + "/", credentials)
    page = body.decode()
    if status != 200:
        return f"GET / answered {status}"
    shown = sum(title in page for title in titles)
    return "ok" if shown == len(titles) else f"GET / shows {shown} of the first 50 tasks"


# ------------------------------------------------------------------ the run


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    measured: Measured | None
    note: str = ""


def machine() -> dict[str, str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = match.group(1).strip() if match else cpu
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    wrk_version = subprocess.run(
        ["wrk", "--version"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Packages": ", ".join(versions),
        "wrk": wrk_version.strip() or "unknown",
        "Load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


async def service_versions(database_url: str) -> dict[str, str]:
    found = {}
    client = redis.Redis.from_url(REDIS_URL)
    try:
        found["Redis"] = str(client.info("server")["redis_version"])
    finally:
        client.close()
    if database_url.startswith("mysql"):
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                found["Database"] = "MariaDB/MySQL " + str(
                    (await connection.execute(text("SELECT VERSION()"))).scalar()
                )
        finally:
            await engine.dispose()
    else:
        import sqlite3

        found["Database"] = f"SQLite {sqlite3.sqlite_version}"
    return found


def ratio(row: Row, to: Row) -> float | None:
    if row.measured is None or to.measured is None:
        return None
    return row.measured.rps / to.measured.rps


@dataclass(frozen=True)
class Plan:
    key: str
    label: str
    server: str
    path: str

    @property
    def credentials(self) -> str:
        """What wrk sends: the API token to /api, the session cookie to pages, nothing to
        the public probe."""
        if self.path.startswith("/api"):
            return "token"
        return "" if self.path == "/health" else "cookie"


# Rows compared with each other sit next to each other (each pass runs them in order, and
# the next one backwards).
PLANS = (
    Plan("ceiling", "`GET /health` (trivial JSON, the ceiling)", "redis", "/health"),
    Plan("json_redis", "`GET /api/tasks`, Redis hit", "redis", "/api/tasks"),
    Plan(
        "json_redis_info",
        "`GET /api/tasks`, Redis hit, LOG_LEVEL=INFO (access log on)",
        "redis_info",
        "/api/tasks",
    ),
    Plan("json_memory", "`GET /api/tasks`, in-process hit", "memory", "/api/tasks"),
    Plan("json_off", "`GET /api/tasks`, cache off", "off", "/api/tasks"),
    Plan("html_redis", "`GET /` full HTML page, Redis hit", "redis", "/"),
    Plan("html_memory", "`GET /` full HTML page, in-process hit", "memory", "/"),
)
# Their logs, where the Redis cache's breaker writes each opening (webapp/cache/backends.py).
REDIS_SERVERS = ("redis", "redis_info", "off")
BREAKER_OPENED = "redis cache unavailable"


def combine(runs: list[Measured]) -> Measured:
    """Passes of one row as one: requests/s over all of them, the mean p50, the worst p99."""
    seconds = sum(run.requests / run.rps for run in runs)
    requests = sum(run.requests for run in runs)
    return Measured(
        rps=requests / seconds,
        p50_ms=sum(run.p50_ms for run in runs) / len(runs),
        p99_ms=max(run.p99_ms for run in runs),
        requests=requests,
        failures=sum(run.failures for run in runs),
    )


def main() -> int:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs it with apt-get)")
    if not reachable(REDIS_URL, 6379):
        raise SystemExit(f"Redis is not reachable at {REDIS_URL} (BENCH_REDIS_URL)")
    LOGS.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    about = machine()

    print("1. the production server: a hello world on each candidate", flush=True)
    servers = compare_servers()
    server = max(servers, key=lambda name: servers[name].rps)

    database_url = MARIADB_URL if reachable(MARIADB_URL, 3306) else SQLITE_URL
    on_mariadb = database_url.startswith("mysql")
    print(f"2. {TASKS:,} tasks in {'MariaDB' if on_mariadb else 'SQLite'}", flush=True)
    if on_mariadb:
        asyncio.run(create_database(database_url))
    migrate(database_url)
    seeded = asyncio.run(seed(database_url))
    about |= asyncio.run(service_versions(database_url))
    forget_cache()

    print(
        "3. the app (python -m webapp serve: Granian, one worker), four ways at once: "
        "Redis, Redis with LOG_LEVEL=INFO, cache off (CACHE_TTL_SECONDS=0), in-process "
        "cache (REDIS_URL empty)",
        flush=True,
    )
    with ExitStack() as stack:
        bases = {
            "redis": stack.enter_context(app(database_url, "redis", redis_url=REDIS_URL)),
            "redis_info": stack.enter_context(
                app(database_url, "redis_info", redis_url=REDIS_URL, log_level="INFO")
            ),
            "off": stack.enter_context(app(database_url, "off", redis_url=REDIS_URL, ttl=0)),
            "memory": stack.enter_context(app(database_url, "memory")),
        }
        token = {"Authorization": f"Bearer {seeded.token}"}
        cookies = {
            name: {"Cookie": f"{SESSION_COOKIE}={log_in(base)}"} for name, base in bases.items()
        }

        def credentials(plan: Plan) -> dict[str, str]:
            kind = plan.credentials
            return token if kind == "token" else cookies[plan.server] if kind else {}

        titles = expect_json_list(bases["redis"], "HIT", token)
        expect_json_list(bases["redis_info"], "HIT", token)
        expect_json_list(bases["off"], "MISS", token)
        expect_json_list(bases["memory"], "HIT", token)
        html_state = html_page_state(bases["redis"], titles, cookies["redis"])
        if html_state == "ok":
            html_state = html_page_state(bases["memory"], titles, cookies["memory"])
        plans = [plan for plan in PLANS if html_state == "ok" or plan.path != "/"]
        # Every row is measured in PASSES passes, forwards then backwards, so that a
        # machine getting busier or quieter during the run (it is shared) does not favour
        # the rows measured first: the pairs compared with each other sit side by side.
        runs: dict[str, list[Measured]] = {plan.key: [] for plan in plans}
        for number in range(PASSES):
            print(f"  pass {number + 1} of {PASSES}", flush=True)
            for plan in plans if number % 2 == 0 else plans[::-1]:
                url = bases[plan.server] + plan.path
                runs[plan.key].append(measure(url, warm_up=number == 0, headers=credentials(plan)))
    forget_cache()
    # The cache degrades to the database when Redis does not answer in time (a machine
    # too busy can make it so); a Redis row measured during that is not a Redis row. Each
    # opening of the cache's circuit breaker is one warning in the server's log.
    openings = {
        name: (LOGS / f"app-{name}.log").read_text(errors="replace").count(BREAKER_OPENED)
        for name in REDIS_SERVERS
    }
    about["Redis cache breaker openings during the run (goal 0)"] = ", ".join(
        f"{name}: {count}" for name, count in openings.items()
    ) + (" (see var/bench/app-*.log)" if any(openings.values()) else "")

    rows = {
        plan.key: Row(
            plan.key,
            plan.label,
            combine(runs[plan.key]) if plan.key in runs else None,
            "" if plan.key in runs else html_state,
        )
        for plan in PLANS
    }
    checks = targets(rows, on_mariadb)
    table = render(started, about, servers, server, rows, checks, on_mariadb)
    print()
    print(table)
    write_section(table, heading="## Latest run", begin=BEGIN, end=END)
    missed = [name for name, (passed, _) in checks.items() if passed is False]
    if missed:
        print(f"\nMISSED: {', '.join(missed)}", flush=True)
    return 1 if missed and os.environ.get("BENCH_STRICT") == "1" else 0


def targets(rows: dict[str, Row], on_mariadb: bool) -> dict[str, tuple[bool | None, str]]:
    """Each target: passed (None when it could not be measured) and what was measured."""
    checks: dict[str, tuple[bool | None, str]] = {}

    def at_least(name: str, value: float | None, bound: float, what: str) -> None:
        if value is None:
            checks[name] = (None, f"{what}: not measured")
        else:
            checks[name] = (value >= bound, f"{what} = {value:.2f} (target ≥ {bound:.2f})")

    at_least(
        "json-redis",
        ratio(rows["json_redis"], rows["ceiling"]),
        0.40,
        "JSON list on a Redis hit / ceiling",
    )
    at_least(
        "json-redis-auth",
        ratio(rows["json_redis"], rows["ceiling"]),
        0.45,
        "JSON list on a Redis hit, with its bearer token, / ceiling (issue 11)",
    )
    at_least(
        "log-info",
        ratio(rows["json_redis_info"], rows["json_redis"]),
        0.85,
        "JSON list on a Redis hit, LOG_LEVEL=INFO / the same with WARNING (issue 10)",
    )
    at_least(
        "html-redis",
        ratio(rows["html_redis"], rows["html_memory"]),
        0.80,
        "HTML page on a Redis hit / same page in-process",
    )
    at_least(
        "json-off",
        ratio(rows["json_off"], rows["ceiling"]),
        0.03,
        "JSON list, cache off / ceiling" + ("" if on_mariadb else " (SQLite, not MariaDB)"),
    )
    slow = [
        f"{row.key} {row.measured.p99_ms:.1f} ms"
        for key in ("json_redis", "json_redis_info", "html_redis", "json_memory", "html_memory")
        if (row := rows[key]).measured is not None and row.measured.p99_ms >= 20
    ]
    checks["p99"] = (not slow, "p99 < 20 ms on every cached row" + (f": {slow}" if slow else ""))
    return checks


def render(
    started: datetime.datetime,
    about: dict[str, str],
    servers: dict[str, Measured],
    server: str,
    rows: dict[str, Row],
    checks: dict[str, tuple[bool | None, str]],
    on_mariadb: bool,
) -> str:
    lines = [
        f"Latest run: {started:%Y-%m-%d %H:%M} UTC, `make bench` "
        f"(wrk, {CONNECTIONS} connections, one server worker, {TASKS:,} tasks in "
        f"{'MariaDB' if on_mariadb else 'SQLite'}, LOG_LEVEL=WARNING unless the row says "
        "otherwise; /api rows send the account's bearer token, page rows its session "
        "cookie). Each row of the app: "
        f"{PASSES} runs of {SECONDS} s after {WARMUP_SECONDS} s of warm-up, the rows in one "
        "order then the other; req/s over all runs, p50 their mean, p99 the worst.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in about.items()),
        "",
        "**Server** (a Litestar hello world, one worker):",
        "",
        "| server | req/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        *(
            f"| {name}{' (chosen)' if name == server else ''} | {m.rps:,.0f} | "
            f"{m.p50_ms:.2f} | {m.p99_ms:.2f} |"
            for name, m in servers.items()
        ),
        "",
        f"Granian is {servers['granian'].rps / servers['uvicorn'].rps:.2f}x Uvicorn here"
        + ("." if server == "granian" else "; the app is still served by Granian (webapp.cli)."),
        "",
        "**The app** (`python -m webapp serve`, Granian, one worker):",
        "",
        "| request | req/s | p50 ms | p99 ms | ratio to ceiling | failed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    ceiling = rows["ceiling"]
    for row in rows.values():
        if row.measured is None:
            lines.append(f"| {row.label} | - | - | - | not measured: {row.note} | - |")
            continue
        share = ratio(row, ceiling)
        lines.append(
            f"| {row.label} | {row.measured.rps:,.0f} | {row.measured.p50_ms:.2f} | "
            f"{row.measured.p99_ms:.2f} | {share:.3f} | {row.measured.failures} |"
        )
    lines += ["", "**Targets:**", ""]
    for passed, text_ in checks.values():
        mark = "not measured" if passed is None else ("met" if passed else "**MISSED**")
        lines.append(f"- {text_}: {mark}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
