"""The cluster without Docker: the exact commands of docker-compose.yml's `migrate`, `app`
(twice, on two ports) and `worker`, run as processes with the environment compose gives
their containers, pointed at this machine's MariaDB, Redis and RabbitMQ.

What is changed from the containers' environment, and why:
- the service host names (mysql, redis, rabbitmq) become 127.0.0.1;
- the .env says which database, user, vhost and key prefix, all named tasks_cluster_smoke,
  so this run shares nothing with other tests on the shared services;
- the Redis database number becomes REDIS_DB below, for the same reason;
- CACHE_SOCKET_TIMEOUT_MS is longer, so a loaded machine does not turn the cache off;
- HOST is 127.0.0.1 and PORT one of APP_PORTS, so nothing listens beyond loopback.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
from advanced_alchemy.base import metadata_registry
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import webapp.models  # noqa: F401  (registers every table on the metadata)
from tests.cluster.compose import (
    container_command,
    container_environment,
    make_cluster_env,
    read_env_file,
    write_env_file,
)
from tests.needs import MARIADB_URL, REDIS_URL, need
from webapp.db import MIGRATIONS_DIR, VERSION_TABLE
from webapp.settings import PROJECT_ROOT

pytestmark = [pytest.mark.mariadb, pytest.mark.redis, pytest.mark.rabbitmq]

NAME = "tasks_cluster_smoke"
REDIS_DB = 11
APP_PORTS = (8401, 8402)
STRAY_TABLE = "stray_from_an_older_schema"
BULK_SIZE = 25

STARTUP_TIMEOUT = 60.0
JOB_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
COMMAND_TIMEOUT = 120.0


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- the shared services, prepared for this run ---------------------------------------


async def _execute_as_root(*statements: str) -> list[list[Any]]:
    engine = create_async_engine(MARIADB_URL)
    try:
        async with engine.begin() as connection:
            results = []
            for statement in statements:
                result = await connection.execute(text(statement))
                results.append([tuple(row) for row in result] if result.returns_rows else [])
            return results
    finally:
        await engine.dispose()


def execute_as_root(*statements: str) -> list[list[Any]]:
    return asyncio.run(_execute_as_root(*statements))


def prepare_mariadb(password: str) -> None:
    """What the mysql image does with MYSQL_DATABASE/USER/PASSWORD, plus leftovers a reset
    must remove: a table no migration knows and a version row of no migration."""
    execute_as_root(
        f"CREATE DATABASE IF NOT EXISTS `{NAME}`",
        f"DROP USER IF EXISTS '{NAME}'@'%'",
        f"CREATE USER '{NAME}'@'%' IDENTIFIED BY '{password}'",
        f"GRANT ALL PRIVILEGES ON `{NAME}`.* TO '{NAME}'@'%'",
        f"CREATE TABLE IF NOT EXISTS `{NAME}`.`{STRAY_TABLE}` (id INT PRIMARY KEY)",
        f"INSERT IGNORE INTO `{NAME}`.`{STRAY_TABLE}` VALUES (1)",
        f"DROP TABLE IF EXISTS `{NAME}`.`{VERSION_TABLE}`",
        f"CREATE TABLE `{NAME}`.`{VERSION_TABLE}` (version_num VARCHAR(32) PRIMARY KEY)",
        f"INSERT INTO `{NAME}`.`{VERSION_TABLE}` VALUES ('not-a-revision')",
    )


def schema_state() -> tuple[set[str], list[str]]:
    tables, versions = execute_as_root(
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{NAME}'",
        f"SELECT version_num FROM `{NAME}`.`{VERSION_TABLE}`",
    )
    return {row[0] for row in tables}, [row[0] for row in versions]


def prepare_rabbitmq() -> None:
    """A vhost of our own, emptied: other tests' workers never see our messages."""
    if _rabbitmqctl("list_vhosts").returncode != 0:
        pytest.fail("rabbitmqctl cannot reach the local RabbitMQ (the smoke run needs a vhost)")
    _rabbitmqctl("delete_vhost", NAME)
    for arguments in (
        ("add_vhost", NAME),
        ("set_permissions", "-p", NAME, "guest", ".*", ".*", ".*"),
    ):
        result = _rabbitmqctl(*arguments)
        assert result.returncode == 0, result.stdout + result.stderr


def _rabbitmqctl(*arguments: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["rabbitmqctl", "--quiet", *arguments],
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )
    except FileNotFoundError:
        pytest.fail("rabbitmqctl is not installed (the smoke run makes its own vhost with it)")


def smoke_redis_url() -> str:
    return urlunsplit(urlsplit(REDIS_URL)._replace(path=f"/{REDIS_DB}"))


def forget_cached_reads() -> None:
    # Like a new cluster's Redis: no reads cached from an earlier run of this test.
    client = redis.Redis.from_url(smoke_redis_url())
    try:
        for key in client.scan_iter(match=f"{NAME}:*"):
            client.delete(key)
    finally:
        client.close()


# --- processes -------------------------------------------------------------------------


def on_this_machine(environment: dict[str, str], port: int) -> dict[str, str]:
    """A container's environment with the compose service names replaced by loopback."""
    local = dict(environment)
    for variable, service in (
        ("DATABASE_URL", "mysql"),
        ("REDIS_URL", "redis"),
        ("BROKER_URL", "rabbitmq"),
    ):
        url = urlsplit(environment[variable])
        assert url.hostname == service, f"{variable} should point at the {service} service"
        netloc = url.netloc.rsplit("@", 1)
        netloc[-1] = netloc[-1].replace(service, "127.0.0.1", 1)
        url = url._replace(netloc="@".join(netloc))
        if variable == "REDIS_URL":
            url = url._replace(path=f"/{REDIS_DB}")
        local[variable] = urlunsplit(url)
    local["HOST"] = "127.0.0.1"
    local["PORT"] = str(port)
    return local


def process_environment(container: dict[str, str]) -> dict[str, str]:
    """What a container would have besides compose's variables (the image's PATH and
    PYTHONPATH), and nothing else of this test process's environment."""
    interpreter_bin = str(Path(sys.executable).parent)
    return {
        "PATH": os.pathsep.join([interpreter_bin, os.environ.get("PATH", "/usr/bin:/bin")]),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONUNBUFFERED": "1",
        **container,
    }


def native_command(service: str) -> list[str]:
    command = container_command(service)
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


@dataclass
class ServiceProcess:
    """One compose service's command running here, in its own process group."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    exit_code: int | None = field(default=None)

    @classmethod
    def start(
        cls, name: str, service: str, environment: dict[str, str], workdir: Path
    ) -> ServiceProcess:
        log = workdir / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                native_command(service),
                env=process_environment(environment),
                cwd=workdir,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: children can be found and checked
            )
        return cls(name, process, log)

    def running(self) -> bool:
        return self.process.poll() is None

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def group_gone(self) -> bool:
        return not self.group_alive()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        """SIGTERM, as `docker compose stop` sends it; the exit code once it has exited."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not stop within {STOP_TIMEOUT:.0f}s of SIGTERM")
        return self.exit_code

    def kill_group(self) -> None:
        if self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.running():
            self.process.wait(timeout=STOP_TIMEOUT)


@dataclass
class NativeCluster:
    apps: list[ServiceProcess]
    worker: ServiceProcess
    clients: list[httpx.Client]

    @property
    def processes(self) -> list[ServiceProcess]:
        return [*self.apps, self.worker]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()}" for p in self.processes)


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The containers' working directory: no .env in it, as none is in the image."""
    return tmp_path_factory.mktemp("cluster")


@pytest.fixture(scope="module")
def env_file(workdir: Path) -> Path:
    """A newcomer's .env (`make cluster-env`), told which shared-service names to use."""
    need("mariadb")
    need("redis")
    need("rabbitmq")
    path = workdir / "compose" / ".env"
    path.parent.mkdir()
    make_cluster_env(path)
    write_env_file(
        path,
        read_env_file(path)
        | {
            "MYSQL_DATABASE": NAME,
            "MYSQL_USER": NAME,
            # The local RabbitMQ's account; guest may log in from loopback only, which is
            # why the template names a user of its own for the cluster.
            "RABBITMQ_DEFAULT_USER": "guest",
            "RABBITMQ_DEFAULT_PASS": "guest",
            "RABBITMQ_DEFAULT_VHOST": NAME,
            "CACHE_KEY_PREFIX": f"{NAME}:",
            # This run checks behaviour, not latency: on two cores shared with other test
            # runs a Redis reply can take longer than the template's 50 ms, and the cache
            # would then (rightly) step aside, which is not what is being checked here.
            "CACHE_SOCKET_TIMEOUT_MS": "1000",
            "DB_RESET_ON_START": "true",
        },
    )
    return path


@dataclass
class Migration:
    result: subprocess.CompletedProcess[str]
    tables: set[str]
    versions: list[str]


@pytest.fixture(scope="module")
def migration(env_file: Path, workdir: Path) -> Migration:
    prepare_mariadb(read_env_file(env_file)["MYSQL_PASSWORD"])
    environment = on_this_machine(container_environment("migrate", env_file), APP_PORTS[0])
    result = subprocess.run(
        native_command("migrate"),
        env=process_environment(environment),
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=COMMAND_TIMEOUT,
    )
    tables, versions = schema_state()
    return Migration(result, tables, versions)


@pytest.fixture(scope="module")
def cluster(migration: Migration, env_file: Path, workdir: Path) -> Iterator[NativeCluster]:
    assert migration.result.returncode == 0, migration.result.stderr
    for port in APP_PORTS:
        # Something else answering there would be tested in the app's place.
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.fail(f"port {port} is taken; the smoke run's apps need it")
    prepare_rabbitmq()
    forget_cached_reads()
    apps = []
    worker = None
    try:
        for index, port in enumerate(APP_PORTS, start=1):
            environment = on_this_machine(container_environment("app", env_file), port)
            apps.append(ServiceProcess.start(f"app{index}", "app", environment, workdir))
        environment = on_this_machine(container_environment("worker", env_file), APP_PORTS[0])
        worker = ServiceProcess.start("worker", "worker", environment, workdir)
        # The cluster's admin path (README): an admin and a token from the command line.
        bearer = {"Authorization": f"Bearer {admin_token(env_file, workdir)}"}
        clients = [
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0, headers=bearer)
            for port in APP_PORTS
        ]
        cluster = NativeCluster(apps, worker, clients)
        for app, client in zip(apps, clients, strict=True):
            wait_until(
                partial(_serves_health, app, client, cluster),
                STARTUP_TIMEOUT,
                f"{app.name} to answer /health",
            )
        yield cluster
        for client in clients:
            client.close()
    finally:
        for process in [*apps, *([worker] if worker else [])]:
            process.kill_group()


def admin_token(env_file: Path, workdir: Path) -> str:
    """`python -m webapp create-user ... --admin`, then `create-token`, as an operator runs
    them in an app container; returns the token."""
    environment = process_environment(
        on_this_machine(container_environment("app", env_file), APP_PORTS[0])
    )
    outputs = []
    for arguments, stdin in (
        (["create-user", "admin@example.com", "--admin"], "a long admin password\n"),
        (["create-token", "admin@example.com", "--name", "smoke"], ""),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "webapp", *arguments],
            env=environment,
            cwd=workdir,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.strip())
    return outputs[-1]


def _serves_health(app: ServiceProcess, client: httpx.Client, cluster: NativeCluster) -> bool:
    if not app.running():
        pytest.fail(f"{app.name} exited with {app.process.returncode}\n{cluster.logs()}")
    try:
        return client.get("/health").status_code == 200
    except httpx.TransportError:
        return False


# --- the checks ------------------------------------------------------------------------


def test_migrate_rebuilds_the_schema_at_the_migration_head(migration: Migration) -> None:
    assert migration.result.returncode == 0, migration.result.stderr
    head = list(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
    assert migration.versions == head
    expected = set(metadata_registry.get(None).tables) | {VERSION_TABLE}
    assert migration.tables == expected
    assert STRAY_TABLE not in migration.tables


def test_both_app_processes_are_ready(cluster: NativeCluster) -> None:
    for app, client in zip(cluster.apps, cluster.clients, strict=True):
        response = client.get("/ready")
        assert response.status_code == 200, f"{app.name}: {response.text}"
        assert response.json() == {
            "status": "ready",
            "database": "ok",
            "cache": "ok",
            "broker": "ok",
        }, app.name


def test_a_write_through_one_app_is_read_through_the_other(cluster: NativeCluster) -> None:
    one, two = cluster.clients
    # Warm the second process's cached reads first, so that a stale one could be served.
    assert two.get("/api/tasks").headers["X-Cache"] == "MISS"
    before = two.get("/api/tasks")
    assert before.headers["X-Cache"] == "HIT", "the second app does not cache reads"

    created = one.post("/api/tasks", json={"title": "Written through app 1"})
    assert created.status_code == 201, created.text
    task = created.json()
    listed = two.get("/api/tasks").json()
    assert task["id"] in [item["id"] for item in listed["items"]]
    assert listed["total"] == before.json()["total"] + 1

    path = f"/api/tasks/{task['id']}"
    assert two.get(path).json()["title"] == "Written through app 1"
    assert two.get(path).headers["X-Cache"] == "HIT"
    changed = one.patch(path, json={"title": "Changed through app 1", "version": task["version"]})
    assert changed.status_code == 200, changed.text
    after = two.get(path)
    assert after.json()["title"] == "Changed through app 1"
    assert after.headers["X-Cache"] == "MISS"


def test_a_bulk_restore_is_done_by_the_worker(cluster: NativeCluster) -> None:
    one, two = cluster.clients
    assert cluster.worker.running(), f"the worker exited\n{cluster.worker.output()}"
    ids = []
    for number in range(BULK_SIZE):
        created = one.post("/api/tasks", json={"title": f"Bulk {number}"})
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
        assert one.delete(f"/api/tasks/{ids[-1]}").status_code == 204
    trashed = {item["id"] for item in two.get("/api/trash").json()["items"]}
    assert set(ids) <= trashed

    started = two.post("/api/restore-jobs", json={"ids": ids})
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    assert re.fullmatch(r"/api/restore-jobs/[^/]+", location), location

    job: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal job
        job = one.get(location).json()
        return job["status"] in {"done", "failed"}

    wait_until(finished, JOB_TIMEOUT, "the restore job to finish", interval=0.5)
    assert job["status"] == "done", f"{job}\n{cluster.logs()}"
    assert (job["total"], job["restored"]) == (BULK_SIZE, BULK_SIZE), f"{job}\n{cluster.logs()}"
    live = {item["id"] for item in two.get("/api/tasks", params={"limit": 100}).json()["items"]}
    assert set(ids) <= live
    trashed = {item["id"] for item in two.get("/api/trash").json()["items"]}
    assert not set(ids) & trashed


def test_everything_stops_cleanly_on_sigterm(cluster: NativeCluster) -> None:
    for process in cluster.processes:
        was_running = process.running()
        exit_code = process.stop()
        assert was_running, f"{process.name} had already exited\n{process.output()}"
        assert exit_code == 0, f"{process.name} exited with {exit_code}\n{process.output()}"
        # Its workers (Granian's, Dramatiq's) go with it: nothing left in its group.
        wait_until(
            process.group_gone,
            STOP_TIMEOUT,
            f"the processes of {process.name} to exit",
        )
