"""The app (`python -m webapp serve`, Granian) and job workers (`python -m webapp worker`)
as real processes, configured only by their environment, run from an empty directory so
that no developer's .env is read."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.commands import environment
from tests.faults.client import api_client
from tests.faults.processes import (
    Child,
    listeners,
    reserved_port,
    wait_for_log_line,
    wait_until_closed,
)
from tests.services.worker_process import READY_LINE

APP_PORTS = range(8120, 8140)
START_SECONDS = 60


def app_environment(port: int, **settings: str) -> dict[str, str]:
    """What the cluster's app container gets, pointed at the test's dependencies.

    LOG_FORMAT is left out on purpose: the default (text) is what the issue measured.
    """
    return environment(
        **{
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "SECRET_KEY": secrets.token_urlsafe(32),
            "LOG_LEVEL": "INFO",
            "WEB_CONCURRENCY": "1",  # one process: the log counts are one breaker's
            "DB_RESET_ON_START": "false",
            **settings,
        }
    )


def worker_environment(**settings: str) -> dict[str, str]:
    """What the cluster's worker container gets (LOG_FORMAT left at its default, text)."""
    return environment(**{"LOG_LEVEL": "INFO", **settings})


class AppServer:
    def __init__(self, workdir: Path, name: str, port: int, env: dict[str, str]) -> None:
        self.name = name
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.env = env
        self.workdir = workdir
        self.child = Child(
            name,
            [sys.executable, "-m", "webapp", "serve", "--no-migrate"],
            log=workdir / f"{name}.log",
            cwd=workdir,
            env=env,
        )

    @property
    def log_path(self) -> Path:
        return self.child.log_path

    async def wait_ready(self, within: float = START_SECONDS) -> None:
        deadline = time.monotonic() + within
        async with api_client(self.base_url, connections=1, timeout=1) as client:
            while True:
                if not self.child.alive():
                    raise AssertionError(f"the app exited at start:\n{self.child.log()[-4000:]}")
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"the app did not answer within {within:.0f}s")
                await asyncio.sleep(0.05)
        if (count := listeners(self.port)) not in (None, 1):
            raise AssertionError(f"{count} servers listen on {self.port}: another run shares it")

    async def stop(self) -> None:
        self.child.stop()
        await wait_until_closed(self.port)


class Worker:
    """A Dramatiq worker process group; `kill` is SIGKILL of all of it, mid-whatever."""

    def __init__(self, workdir: Path, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.child = Child(
            name,
            [sys.executable, "-m", "webapp", "worker"],
            log=workdir / f"{name}.log",
            cwd=workdir,
            env=env,
        )

    @property
    def started_at(self) -> float:
        return self.child.started_at

    @property
    def log_path(self) -> Path:
        return self.child.log_path

    async def wait_ready(self, within: float = START_SECONDS) -> float:
        return await wait_for_log_line(self.child, READY_LINE, within=within)

    def kill(self) -> None:
        self.child.kill()

    def stop(self) -> None:
        self.child.stop(timeout=30)


class Launcher:
    """Starts the app and workers for one test, and stops them all at its end."""

    def __init__(self, workdir: Path, ports: ExitStack) -> None:
        self.workdir = workdir
        self.ports = ports
        self.apps: list[AppServer] = []
        self.workers: list[Worker] = []

    async def app(self, **settings: str) -> AppServer:
        port = self.ports.enter_context(reserved_port(APP_PORTS))
        name = "app" if not self.apps else f"app-{len(self.apps) + 1}"
        server = AppServer(self.workdir, name, port, app_environment(port, **settings))
        self.apps.append(server)
        await server.wait_ready()
        return server

    def worker(self, **settings: str) -> Worker:
        """Start a worker (without waiting: see Worker.wait_ready)."""
        name = f"worker-{len(self.workers) + 1}"
        worker = Worker(self.workdir, name, worker_environment(**settings))
        self.workers.append(worker)
        return worker

    def logs(self) -> list[Path]:
        """The logs of every process started so far."""
        return [
            *(app.log_path for app in self.apps),
            *(worker.log_path for worker in self.workers),
        ]

    async def close(self) -> None:
        """Stop everything started (again harmlessly: what has stopped is left alone)."""
        for worker in self.workers:
            worker.stop()
        for app in self.apps:
            await app.stop()
