"""Three app replicas, two workers and nginx in front of them, on this machine: what
docker-compose.yml runs, as processes, against the local MariaDB, Redis and RabbitMQ.

    from tests.cluster.replicas import ReplicaCluster  # the type; the fixture is global

    def test_something(replica_cluster: ReplicaCluster) -> None:
        with replica_cluster.client(sync=True) as http:  # through the proxy
            http.get("/api/tasks")

`replica_cluster` (registered for every test by tests/conftest.py) starts everything once
per session and, before each test, starts again whatever an earlier test stopped or
killed. Each replica is `python -m webapp serve --no-migrate` (Granian, one process) on
a port of its own, each worker `python -m webapp worker`; nginx runs the compose proxy's
own files (tests/cluster/proxy.py). The shared services are used under names of this run
alone, derived from the proxy's locked port: the database `tasks_replicas_<port>`
(rebuilt at start, dropped at the end), Redis database REDIS_DB with the key prefix
`tasks_replicas_<port>:`, and RabbitMQ queues prefixed `test_replicas_<port>.` (deleted
at the end). Every process dies with the test process (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.cluster.proxy import PORTS, Nginx
from tests.commands import environment, run_webapp
from tests.databases import make_settings, mariadb_url
from tests.faults.client import api_client
from tests.faults.processes import Child, listeners, port_accepts, reserved_port
from tests.needs import MARIADB_URL, RABBITMQ_URL, REDIS_URL, need
from tests.services.worker_process import READY_LINE, delete_rabbitmq_queues, empty_tables
from webapp.db import create_database, create_engine

REPLICAS = 3
WORKERS = 2
REDIS_DB = 13
# Where the clients of these tests connect from: not 127.0.0.1 (nginx's own address
# towards the replicas), so that a replica's access log shows whose address it took.
CLIENT_ADDRESS = "127.0.0.7"
START_SECONDS = 60.0
# nginx's fail_timeout (10 s, the default) and a margin.
BACK_IN_SERVICE_SECONDS = 15.0
# Small batches: a bulk restore of a few tens of thousands of tasks takes seconds, long
# enough for a worker to be stopped in the middle of it.
RESTORE_BATCH_SIZE = 100


def settings_for(port: int, database_url: str, secret_key: str) -> dict[str, str]:
    """The environment every replica and worker shares (as compose's x-app)."""
    name = f"tasks_replicas_{port}"
    return {
        "DATABASE_URL": database_url,
        "DB_RESET_ON_START": "false",
        # 3 replicas x (5 + 10 overflow) + 2 workers: far below MariaDB's 151.
        "DB_POOL_SIZE": "5",
        "REDIS_URL": urlunsplit(urlsplit(REDIS_URL)._replace(path=f"/{REDIS_DB}")),
        "CACHE_KEY_PREFIX": f"{name}:",
        # Behaviour is measured here, not latency: a busy 2-core machine can take longer
        # than 50 ms to answer, and the cache would (rightly) step aside.
        "CACHE_SOCKET_TIMEOUT_MS": "1000",
        "BROKER_URL": RABBITMQ_URL,
        "BROKER_QUEUE_PREFIX": f"test_replicas_{port}.",
        "SECRET_KEY": secret_key,  # one for all replicas, as in the cluster
        "WEB_CONCURRENCY": "1",
        # nginx reaches the replicas from 127.0.0.1; the clients come from CLIENT_ADDRESS.
        "TRUSTED_PROXIES": "127.0.0.1",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        "WORKER_PROCESSES": "1",
        "WORKER_THREADS": "2",
        "RESTORE_BATCH_SIZE": str(RESTORE_BATCH_SIZE),
    }


class AppReplica:
    """One replica: `python -m webapp serve --no-migrate` on its own port."""

    def __init__(self, workdir: Path, name: str, port: int, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.name = name
        self.port = port
        self.address = f"127.0.0.1:{port}"  # as nginx's log names it
        self.base_url = f"http://{self.address}"
        self.env = environment(**env, HOST="127.0.0.1", PORT=str(port))
        self.log_path = workdir / f"{name}.log"
        self.child: Child | None = None

    def start(self) -> None:
        self.child = Child(
            self.name,
            [sys.executable, "-m", "webapp", "serve", "--no-migrate"],
            log=self.log_path,
            cwd=self.workdir,
            env=self.env,
        )

    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def wait_ready(self, within: float = START_SECONDS) -> None:
        deadline = time.monotonic() + within
        with api_client(self.base_url, connections=1, timeout=1, sync=True) as http:
            while True:
                if not self.alive():
                    raise AssertionError(f"{self.name} exited at start:\n{self.log()[-4000:]}")
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} did not answer within {within:.0f}s")
                time.sleep(0.05)
        # Granian binds with SO_REUSEPORT: another run's server on this port would share it.
        if (count := listeners(self.port)) not in (None, 1):
            raise AssertionError(f"{count} servers listen on {self.port}: another run shares it")

    def signal(self, sig: signal.Signals) -> None:
        """`sig` to Granian's main process (SIGTERM: a graceful stop of its workers)."""
        assert self.child is not None
        self.child.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL of the replica's whole process group: a container that dies."""
        assert self.child is not None
        self.child.kill()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
        deadline = time.monotonic() + 10
        while port_accepts(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def access_lines(self, since: int = 0) -> list[dict[str, Any]]:
        """The access log's lines (JSON) written after byte `since`."""
        lines = []
        with self.log_path.open("rb") as log:
            log.seek(since)
            for raw in log.read().splitlines():
                if raw.startswith(b"{"):
                    entry = json.loads(raw)
                    if entry.get("event") == "request":
                        lines.append(entry)
        return lines


class WorkerReplica:
    """One worker container: `python -m webapp worker` (Dramatiq), its own process group."""

    def __init__(self, workdir: Path, name: str, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.name = name
        self.env = environment(**env)
        self.log_path = workdir / f"{name}.log"
        self.child: Child | None = None
        self._ready_from = 0

    def start(self) -> None:
        self._ready_from = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.child = Child(
            self.name,
            [sys.executable, "-m", "webapp", "worker"],
            log=self.log_path,
            cwd=self.workdir,
            env=self.env,
        )

    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def wait_ready(self, within: float = START_SECONDS) -> None:
        deadline = time.monotonic() + within
        while READY_LINE not in self.log()[self._ready_from :]:
            if not self.alive():
                raise AssertionError(f"{self.name} exited at start:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready within {within:.0f}s")
            time.sleep(0.05)

    def owns(self, pid: int) -> bool:
        """Whether `pid` is one of this worker's processes (Dramatiq forks them)."""
        if self.child is None:
            return False
        try:
            # pid (comm) state ppid ...: the name may hold spaces, not a ")".
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return False
        return pid == self.child.pid or stat[1] == str(self.child.pid)

    def signal(self, sig: signal.Signals) -> None:
        """`sig` to Dramatiq's main process (SIGTERM: it stops its worker processes)."""
        assert self.child is not None
        self.child.process.send_signal(sig)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def job_lines(self, job_id: object) -> list[dict[str, Any]]:
        """This worker's log lines about the job ("job delivery ended", with its status
        and progress; "job left to another worker: this one is stopping", ...)."""
        lines = []
        for raw in self.log().splitlines():
            if raw.startswith("{"):  # not one of Dramatiq's own lines
                entry = json.loads(raw)
                if entry.get("job_id") == str(job_id):
                    lines.append(entry)
        return lines


@dataclass
class ReplicaCluster:
    """What `replica_cluster` yields: the proxy's URL and a handle on every process."""

    base_url: str  # nginx, the way in
    nginx: Nginx
    apps: list[AppReplica]
    workers: list[WorkerReplica]
    database_url: str
    settings: dict[str, str]  # every replica's and worker's environment
    workdir: Path
    notes: list[str] = field(default_factory=list)

    @overload
    def client(
        self, *, connections: int = ..., timeout: float = ..., sync: Literal[False] = ...
    ) -> httpx.AsyncClient: ...

    @overload
    def client(
        self, *, connections: int = ..., timeout: float = ..., sync: Literal[True]
    ) -> httpx.Client: ...

    def client(
        self, *, connections: int = 4, timeout: float = 10.0, sync: bool = False
    ) -> httpx.AsyncClient | httpx.Client:
        """A client of the proxy, from CLIENT_ADDRESS (see tests.faults.client.api_client)."""
        if sync:
            return api_client(
                self.base_url,
                connections=connections,
                timeout=timeout,
                source_address=CLIENT_ADDRESS,
                sync=True,
            )
        return api_client(
            self.base_url, connections=connections, timeout=timeout, source_address=CLIENT_ADDRESS
        )

    def ensure_whole(self) -> None:
        """Start again every replica or worker that is not running, and wait until each
        is ready and, for a replica, until nginx sends it requests again (nginx leaves a
        replica that failed alone for 10 s)."""
        restarted_apps = [app for app in self.apps if not app.alive()]
        restarted_workers = [worker for worker in self.workers if not worker.alive()]
        restarted: list[AppReplica | WorkerReplica] = [*restarted_apps, *restarted_workers]
        offsets = {app.name: app.log_size() for app in restarted_apps}
        for process in restarted:
            process.start()
        for app in restarted_apps:
            app.wait_ready()
        for worker in restarted_workers:
            worker.wait_ready()
        deadline = time.monotonic() + BACK_IN_SERVICE_SECONDS
        with self.client(connections=1, sync=True) as http:
            while not all(self._proxied_to(app, offsets[app.name]) for app in restarted_apps):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"nginx sent nothing to {[a.name for a in restarted_apps]} "
                        f"within {BACK_IN_SERVICE_SECONDS:.0f}s of their start"
                    )
                http.get("/health")
                time.sleep(0.1)

    @staticmethod
    def _proxied_to(app: AppReplica, since: int) -> bool:
        # Its own start-up checks come from 127.0.0.1, not through nginx.
        return any(line["client"] == CLIENT_ADDRESS for line in app.access_lines(since))

    def logs(self) -> list[Path]:
        return [
            *(app.log_path for app in self.apps),
            *(worker.log_path for worker in self.workers),
            self.nginx.access_log,
            self.nginx.error_log,
        ]


async def _prepare_database(database_url: str) -> None:
    await create_database(database_url)


async def _owner_account(database_url: str) -> None:
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        await empty_tables(engine)
    finally:
        await engine.dispose()


async def _drop_database(name: str) -> None:
    engine = create_async_engine(MARIADB_URL)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    finally:
        await engine.dispose()


def _forget_cached_reads(settings: dict[str, str]) -> None:
    client = redis.Redis.from_url(settings["REDIS_URL"])
    try:
        for key in client.scan_iter(match=f"{settings['CACHE_KEY_PREFIX']}*"):
            client.delete(key)
    finally:
        client.close()


def start_cluster(workdir: Path, stack: ExitStack) -> ReplicaCluster:
    """Everything, started and ready; `stack` stops it all (and cleans up) when closed."""
    proxy_port = stack.enter_context(reserved_port(PORTS))
    name = f"tasks_replicas_{proxy_port}"
    database_url = mariadb_url(name)
    settings = settings_for(proxy_port, database_url, secrets.token_urlsafe(32))

    asyncio.run(_prepare_database(database_url))
    stack.callback(lambda: asyncio.run(_drop_database(name)))
    # A leftover of a killed run on this port is rebuilt from scratch.
    migrated = run_webapp(workdir, "migrate", **{**settings, "DB_RESET_ON_START": "true"})
    assert migrated.returncode == 0, migrated.stderr
    # The account the suite's clients act as, and its token (tests.faults.client).
    asyncio.run(_owner_account(database_url))
    _forget_cached_reads(settings)
    stack.callback(_forget_cached_reads, settings)
    # Last to run: the processes (stopped before this) no longer consume from the queues.
    stack.callback(delete_rabbitmq_queues, settings["BROKER_QUEUE_PREFIX"])

    apps = [
        AppReplica(workdir, f"app-{number}", stack.enter_context(reserved_port(PORTS)), settings)
        for number in range(1, REPLICAS + 1)
    ]
    workers = [
        WorkerReplica(workdir, f"worker-{number}", settings) for number in range(1, WORKERS + 1)
    ]
    processes: list[AppReplica | WorkerReplica] = [*apps, *workers]
    for process in processes:
        process.start()
        stack.callback(process.stop)
    for app in apps:
        app.wait_ready()
    for worker in workers:
        worker.wait_ready()
    nginx = Nginx(workdir / "nginx", proxy_port, [app.address for app in apps])
    stack.callback(nginx.stop)
    return ReplicaCluster(nginx.base_url, nginx, apps, workers, database_url, settings, workdir)


@pytest.fixture(scope="session")
def _replica_cluster_session(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReplicaCluster]:
    need("mariadb")
    need("redis")
    need("rabbitmq")
    with ExitStack() as stack:
        yield start_cluster(tmp_path_factory.mktemp("replicas"), stack)


@pytest.fixture
def replica_cluster(_replica_cluster_session: ReplicaCluster) -> ReplicaCluster:
    """Three replicas, two workers and nginx in front (see the module's docstring), all
    running when the test starts."""
    _replica_cluster_session.ensure_whole()
    return _replica_cluster_session
