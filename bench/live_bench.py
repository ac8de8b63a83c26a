"""`make bench-live`: 1,000 open live-update streams (GET /events) on one app worker, and
how long a write takes to reach the last of them, in one run.

For each feed (in-process: REDIS_URL empty; and Redis pub/sub when Redis is reachable):

1. A database of its own (SQLite file under var/bench/, or BENCH_LIVE_DATABASE_URL),
   migrated, with one account, its Inbox and an API token.
2. The app as the cluster runs it (`python -m webapp serve`: Granian, one worker), logged
   into once through the log-in form; BENCH_LIVE_CLIENTS (1,000) clients, all with that
   session cookie, open `GET /events` (Accept: text/event-stream) on raw asyncio sockets
   in this process, and each waits for the stream's first line (the stream is then
   subscribed to the feed).
3. Idle: the server's CPU time over BENCH_LIVE_IDLE_SECONDS (20) with every stream open
   and nothing written (one keep-alive round, EVENTS_KEEPALIVE_SECONDS=15, falls in it),
   and its memory (VmRSS and VmHWM in /proc/<pid>/status of the server and its child
   processes).
4. BENCH_LIVE_WRITES (20) writes, one every BENCH_LIVE_SPACING (0.5) seconds: a task
   created through `POST /api/tasks` with the bearer token. For each, the delay from its
   response to the moment the LAST client has read its `changed` event (an event with
   the Inbox in its `lists`); p50 and p99 over the writes.
5. Prints the table, checks the targets (p99 < 250 ms, server RSS with the streams open
   < 250 MB, idle CPU about 0) and writes it to docs/benchmarks.md between its markers.

The clients share the machine's two cores with the server: their reading of 1,000
sockets per event is inside the measured delay. Settings: BENCH_LIVE_CLIENTS,
BENCH_LIVE_WRITES, BENCH_LIVE_SPACING, BENCH_LIVE_IDLE_SECONDS, BENCH_LIVE_DATABASE_URL,
BENCH_REDIS_URL (empty: the in-process feed only), BENCH_PORT, BENCH_STRICT=1.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import platform
import re
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from bench.doc import verdict, write_section  # noqa: E402
from bench.run import EMAIL, PASSWORD, app_env, free_port, log_in, serving  # noqa: E402
from webapp.accounts.caller import Caller  # noqa: E402
from webapp.accounts.service import AccountService  # noqa: E402
from webapp.accounts.sessions import SESSION_COOKIE  # noqa: E402
from webapp.accounts.tokens import ApiTokenService  # noqa: E402
from webapp.db import create_database, create_engine, prepare_database  # noqa: E402
from webapp.lists.models import TaskList  # noqa: E402
from webapp.settings import Settings  # noqa: E402

HEADING = "## Live updates (`make bench-live`)"
BEGIN, END = "<!-- bench-live:begin -->", "<!-- bench-live:end -->"
LOGS = ROOT / "var" / "bench"

CLIENTS = int(os.environ.get("BENCH_LIVE_CLIENTS", "1000"))
WRITES = int(os.environ.get("BENCH_LIVE_WRITES", "20"))
SPACING = float(os.environ.get("BENCH_LIVE_SPACING", "0.5"))
IDLE_SECONDS = float(os.environ.get("BENCH_LIVE_IDLE_SECONDS", "20"))
DATABASE_URL = os.environ.get("BENCH_LIVE_DATABASE_URL", "")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
STRICT = os.environ.get("BENCH_STRICT", "") in {"1", "true", "yes"}
CONNECT_BATCH = 100  # streams opened at once (the listen backlog is 1024)
EVENT_TIMEOUT_SECONDS = 10.0
# Litestar ends each server-sent event with an empty line, lines ending in CRLF.
SEPARATOR = b"\r\n\r\n"

TARGET_P99_MS = 250.0
TARGET_RSS_MB = 250.0
TARGET_IDLE_CPU = 0.02  # of one core


# ------------------------------------------------------------------ the server


def database_url(feed: str) -> str:
    if not DATABASE_URL:
        return f"sqlite+aiosqlite:///{LOGS / f'live-{feed}.sqlite3'}"
    return DATABASE_URL.rsplit("/", 1)[0] + f"/tasks_bench_live_{feed}"


async def seed(url: str) -> tuple[str, str]:
    """A fresh database with one account (EMAIL, PASSWORD); its API token and Inbox id."""
    if url.startswith("mysql"):
        await create_database(url)
    settings = Settings(_env_file=None, database_url=url, db_reset_on_start=True)
    await asyncio.to_thread(prepare_database, settings)  # Alembic runs its own loop
    engine = create_engine(Settings(_env_file=None, database_url=url))
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            account = await AccountService(session).create(EMAIL, PASSWORD, name="Bench")
            token = (await ApiTokenService(session, Caller(account.id)).create("bench")).secret
            inbox = await session.scalar(
                select(TaskList.id).where(TaskList.owner_id == account.id, TaskList.is_inbox)
            )
    finally:
        await engine.dispose()
    return token, str(inbox)


def process_tree(root: int) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").iterdir():
            todo += [int(child) for child in (task / "children").read_text().split()]
    return found


def server_pid(port: int) -> int:
    """The server listening on `port` (the process `python -m webapp serve` became)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"PORT={port}".encode() in environ and b"granian" in cmdline:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            parent_cmdline = Path(f"/proc/{parent}/cmdline").read_bytes()
            if b"granian" not in parent_cmdline:  # the main process, not its worker
                return int(entry.name)
    raise SystemExit(f"no Granian process serves port {port}")


def memory_kb(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = re.search(r"VmRSS:\s+(\d+) kB", status)
    hwm = re.search(r"VmHWM:\s+(\d+) kB", status)
    return (int(rss[1]) if rss else 0, int(hwm[1]) if hwm else 0)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ the clients


class Progress:
    """How many clients have read the event of each write; set when all of them have."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.counts: dict[int, int] = {}
        self.complete: dict[int, asyncio.Event] = {}

    def event(self, number: int) -> asyncio.Event:
        return self.complete.setdefault(number, asyncio.Event())

    def note(self, number: int) -> None:
        self.counts[number] = self.counts.get(number, 0) + 1
        if self.counts[number] == self.clients:
            self.event(number).set()


@dataclass
class Client:
    """One browser's stream: when it read each `changed` event naming the list."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    seen: list[float] = field(default_factory=list)
    others: int = 0  # `changed` events not about the list (resyncs)
    closed: bool = False


async def open_stream(host: str, port: int, cookie: str) -> Client:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        (
            f"GET /events HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
            f"Cookie: {SESSION_COOKIE}={cookie}\r\nUser-Agent: bench-live\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    if not head.startswith(b"HTTP/1.1 200") or b"text/event-stream" not in head:
        raise SystemExit(f"GET /events answered {head.decode(errors='replace')[:200]}")
    # The first message (`: live`, with the retry delay) comes once it is subscribed.
    first = await asyncio.wait_for(reader.readuntil(SEPARATOR), 30)
    if b"live" not in first:
        raise SystemExit(f"GET /events began with {first!r}")
    return Client(reader, writer)


async def listen(client: Client, list_id: str, progress: Progress) -> None:
    """Reads the stream, noting when each `changed` event about `list_id` arrives. The
    body is chunked; each event is one chunk, so its text arrives whole (the chunk sizes
    land between events, where they are ignored)."""
    marker = list_id.encode()
    buffer = b""
    while True:
        data = await client.reader.read(65536)
        now = time.perf_counter()
        if not data:
            client.closed = True
            return
        buffer += data
        while (end := buffer.find(SEPARATOR)) >= 0:
            message, buffer = buffer[:end], buffer[end + len(SEPARATOR) :]
            if b"event: changed" in message:
                if marker in message:
                    client.seen.append(now)
                    progress.note(len(client.seen) - 1)
                else:
                    client.others += 1


# ------------------------------------------------------------------ one feed


@dataclass
class Result:
    feed: str
    clients: int
    delays_ms: list[float]  # a write's response -> its event read by the last client
    from_request_ms: list[float]  # the same from when the write was sent
    missed: int  # (client, write) pairs never seen
    resyncs: int
    closed: int
    rss_mb: dict[str, tuple[float, float]]  # process: (VmRSS, VmHWM) with streams open
    idle_cpu: float  # share of one core
    idle_seconds: float
    base_rss_mb: float  # the server's RSS before any stream

    @property
    def total_rss_mb(self) -> float:
        return sum(rss for rss, _ in self.rss_mb.values())


async def drive(base: str, port: int, cookie: str, token: str, list_id: str, feed: str) -> Result:
    host = urlsplit(base).hostname or "127.0.0.1"
    root = server_pid(port)
    pids = process_tree(root)
    base_rss = sum(memory_kb(pid)[0] for pid in pids) / 1024
    clients: list[Client] = []
    for start in range(0, CLIENTS, CONNECT_BATCH):
        batch = min(CONNECT_BATCH, CLIENTS - start)
        clients += await asyncio.gather(*(open_stream(host, port, cookie) for _ in range(batch)))
    print(f"    {len(clients)} streams open", flush=True)
    progress = Progress(len(clients))
    readers = [asyncio.create_task(listen(client, list_id, progress)) for client in clients]
    try:
        await asyncio.sleep(1)
        pids = process_tree(root)
        rss = {
            ("server (granian main)" if pid == root else f"worker process {pid}"): (
                memory_kb(pid)[0] / 1024,
                memory_kb(pid)[1] / 1024,
            )
            for pid in pids
        }
        idle_started, cpu_before = time.perf_counter(), cpu_seconds(pids)
        await asyncio.sleep(IDLE_SECONDS)
        idle_seconds = time.perf_counter() - idle_started
        idle_cpu = (cpu_seconds(pids) - cpu_before) / idle_seconds
        print(f"    idle: {idle_cpu:.1%} of a core over {idle_seconds:.0f} s", flush=True)

        delays: list[float] = []
        from_request: list[float] = []
        missed = 0
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            for number in range(WRITES):
                sent = time.perf_counter()
                response = await api.post(
                    "/api/tasks", json={"title": f"live bench {feed} write {number}"}
                )
                answered = time.perf_counter()
                if response.status_code != 201:
                    raise SystemExit(f"POST /api/tasks: {response.status_code} {response.text}")
                with suppress(TimeoutError):
                    await asyncio.wait_for(progress.event(number).wait(), EVENT_TIMEOUT_SECONDS)
                arrived = [client.seen[number] for client in clients if len(client.seen) > number]
                missed += len(clients) - len(arrived)
                if arrived:
                    delays.append((max(arrived) - answered) * 1000)
                    from_request.append((max(arrived) - sent) * 1000)
                await asyncio.sleep(SPACING)
    finally:
        for task in readers:
            task.cancel()
        for client in clients:
            client.writer.close()
        await asyncio.gather(*readers, return_exceptions=True)
    print(
        f"    {WRITES} writes: last client after p50 {percentile(delays, 50):.1f} ms, "
        f"p99 {percentile(delays, 99):.1f} ms, max {max(delays):.1f} ms",
        flush=True,
    )
    return Result(
        feed=feed,
        clients=len(clients),
        delays_ms=delays,
        from_request_ms=from_request,
        missed=missed,
        resyncs=sum(client.others for client in clients),
        closed=sum(client.closed for client in clients),
        rss_mb=rss,
        idle_cpu=idle_cpu,
        idle_seconds=idle_seconds,
        base_rss_mb=base_rss,
    )


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p99 of 20 writes is the worst of them)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


@contextmanager
def server(feed: str, url: str, redis_url: str, prefix: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = app_env(url, port, redis_url=redis_url, ttl=300)
    env["CACHE_KEY_PREFIX"] = prefix
    command = [sys.executable, "-m", "webapp", "serve", "--no-migrate"]
    with serving(command, env, port, f"live-{feed}") as base:
        yield base, port


def run_feed(name: str, feed: str, redis_url: str) -> Result:
    url = database_url(feed)
    token, inbox = asyncio.run(seed(url))
    # Its own prefix: the sessions, cache entries and the changes channel of this run.
    prefix = f"bench:live:{uuid.uuid4().hex[:8]}:"
    try:
        with server(feed, url, redis_url, prefix) as (base, port):
            cookie = log_in(base)
            return asyncio.run(drive(base, port, cookie, token, inbox, name))
    finally:
        if redis_url:
            forget_keys(prefix)


def forget_keys(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# ------------------------------------------------------------------ report


def markdown(results: list[Result], started: datetime.datetime, load_at_start: str) -> str:
    database = "SQLite" if not DATABASE_URL else "MariaDB"
    lines = [
        f"Latest run: {started:%Y-%m-%d %H:%M} UTC, `make bench-live`: {CLIENTS:,} clients "
        f"on `GET /events` (one account's session cookie, raw asyncio sockets in one "
        f"client process), one Granian worker (`python -m webapp serve`), {database}; "
        f"{WRITES} writes (`POST /api/tasks` into the Inbox they all see), one every "
        f"{SPACING:g} s; idle measured over {IDLE_SECONDS:g} s with every stream open. "
        f"{platform.machine()}, {os.cpu_count()} cores; load average at the start "
        f"{load_at_start}, at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}.",
        "",
        "| feed | streams | response → last client p50 ms | p99 ms | max ms "
        "| request sent → last client p50 ms | p99 ms | events missed "
        "| server RSS before → with streams MB | peak RSS (VmHWM) MB | idle CPU (one core) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        hwm = sum(peak for _, peak in r.rss_mb.values())
        lines.append(
            f"| {r.feed} | {r.clients:,} | {percentile(r.delays_ms, 50):.1f} | "
            f"{percentile(r.delays_ms, 99):.1f} | {max(r.delays_ms):.1f} | "
            f"{percentile(r.from_request_ms, 50):.1f} | {percentile(r.from_request_ms, 99):.1f} | "
            f"{r.missed} | "
            f"{r.base_rss_mb:.0f} → {r.total_rss_mb:.0f} | {hwm:.0f} | {r.idle_cpu:.1%} |"
        )
    lines += [
        "",
        "A negative delay: the last client had the event before the writer had read its "
        "response (the change is published after the commit, before the response is sent).",
        "",
        "Per process, with the streams open (VmRSS / VmHWM):",
        "",
    ]
    for r in results:
        parts = ", ".join(
            f"{name} {rss:.0f} / {hwm:.0f} MB" for name, (rss, hwm) in r.rss_mb.items()
        )
        lines.append(f"- {r.feed}: {parts}")
    lines += ["", "**Targets:**", ""]
    for r in results:
        p99 = percentile(r.delays_ms, 99)
        lines += [
            f"- {r.feed}: p99 from a write's response to the last of {r.clients:,} streams = "
            f"{p99:.0f} ms (target < {TARGET_P99_MS:.0f} ms, every event delivered): "
            f"{verdict(p99 < TARGET_P99_MS and r.missed == 0)}",
            f"- {r.feed}: server RSS with {r.clients:,} streams open = {r.total_rss_mb:.0f} MB "
            f"(target < {TARGET_RSS_MB:.0f} MB): {verdict(r.total_rss_mb < TARGET_RSS_MB)}",
            f"- {r.feed}: CPU while idle = {r.idle_cpu:.1%} of a core (target about 0, "
            f"< {TARGET_IDLE_CPU:.0%}): {verdict(r.idle_cpu < TARGET_IDLE_CPU)}",
        ]
    return "\n".join(lines)


def main() -> int:
    started = datetime.datetime.now(datetime.UTC)
    load_at_start = " ".join(f"{v:.2f}" for v in os.getloadavg())
    LOGS.mkdir(parents=True, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CLIENTS + 200
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
        if min(wanted, hard) < wanted:
            raise SystemExit(f"ulimit -n is {hard} at most; {wanted} file descriptors needed")
    feeds = [("in-process", "")]
    try:
        if REDIS_URL and redis.Redis.from_url(REDIS_URL, socket_timeout=0.5).ping():
            feeds.append(("Redis pub/sub", REDIS_URL))
    except redis.RedisError:
        print("Redis is not reachable: the in-process feed only", flush=True)
    results = []
    for name, redis_url in feeds:
        print(f"{name} feed", flush=True)
        results.append(run_feed(name, "redis" if redis_url else "local", redis_url))
    table = markdown(results, started, load_at_start)
    print()
    print(table)
    write_section(table, heading=HEADING, begin=BEGIN, end=END)
    missed = any(
        percentile(r.delays_ms, 99) >= TARGET_P99_MS
        or r.missed
        or r.total_rss_mb >= TARGET_RSS_MB
        or r.idle_cpu >= TARGET_IDLE_CPU
        for r in results
    )
    return 1 if missed and STRICT else 0


if __name__ == "__main__":
    sys.exit(main())
