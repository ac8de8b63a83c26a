"""Private MariaDB and Redis servers that a test may kill, stop and restart.

Never the shared services: each runs on a spare port (MariaDB 3400-3499, Redis
6390-6399) from a data directory of its own, and dies with the test process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis.asyncio
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.faults.processes import LOCK_DIR, Child, need_binary

MARIADB_PORTS = range(3400, 3500)
REDIS_PORTS = range(6390, 6400)
# Start-up takes well under a second here; crash recovery after kill -9 a little more.
START_SECONDS = 60
# The app's database on the private server, migrated once per session.
DATABASE = "tasks_faults"


class PrivateMariaDB:
    """mariadbd on `port` with a data directory of its own (deleted by `remove`); the
    caller holds the port (processes.reserved_port) while it lives.

    `kill` (SIGKILL) then `start` restarts it on the same data and port, with InnoDB's
    crash recovery: what it acknowledged before the kill must still be there.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.mariadbd = need_binary("mariadbd")
        self.install_db = need_binary("mariadb-install-db")
        # Named after the port, whose lock the caller holds: what a run killed before it
        # could clean up is removed here, and nobody else can be using it. Short, too:
        # the socket's path must fit in 108 bytes.
        self.root = LOCK_DIR / f"tasks-faults-mariadb-{port}"
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir()
        self.datadir = self.root / "data"
        self.server: Child | None = None
        self.starts = 0

    def install(self) -> None:
        subprocess.run(
            [
                self.install_db,
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        """Start mariadbd (without waiting for it: see `wait_ready`)."""
        self.starts += 1
        argv = [
            self.mariadbd,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.root / 'sock'}",
            f"--pid-file={self.root / 'mariadbd.pid'}",
            "--skip-log-bin",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=128M",
            "--max-connections=500",
            # The default, said out loud: a commit is on disk before it is acknowledged,
            # which is what "acknowledged writes lost" measures.
            "--innodb-flush-log-at-trx-commit=1",
        ]
        if os.geteuid() == 0:
            argv.append("--user=root")  # mariadbd refuses to run as root otherwise
        self.server = Child(
            "mariadbd",
            argv,
            log=self.log_path,
            cwd=self.root,
            graceful=False,
        )

    @property
    def log_path(self) -> Path:
        return self.root / "mariadbd.log"

    def url(self, database: str) -> str:
        return f"mysql+asyncmy://root@127.0.0.1:{self.port}/{database}"

    @property
    def database_url(self) -> str:
        return self.url(DATABASE)

    async def answers(self) -> bool:
        """Whether a new connection gets an answer to SELECT 1 within a second."""
        engine = create_async_engine(
            self.url(""), poolclass=pool.NullPool, connect_args={"connect_timeout": 1}
        )
        try:
            async with asyncio.timeout(1.5), engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False
        finally:
            await engine.dispose()

    async def wait_ready(self, within: float = START_SECONDS) -> float:
        """Wait until it answers; returns that moment (time.monotonic())."""
        deadline = time.monotonic() + within
        while not await self.answers():
            if self.server is None or not self.server.alive():
                raise AssertionError(f"mariadbd exited:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"mariadbd did not answer within {within:.0f}s")
            await asyncio.sleep(0.05)
        return time.monotonic()

    def log(self) -> str:
        return self.server.log() if self.server is not None else ""

    def kill(self) -> None:
        """kill -9: no shutdown, no flush beyond what each commit already wrote."""
        assert self.server is not None
        self.server.kill()

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers, like a stalled host."""
        assert self.server is not None
        os.kill(self.server.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.server is not None
        os.kill(self.server.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(timeout=60)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """redis-server on `port`, without persistence: a restart starts empty, as a Redis
    that lost its memory would."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.binary = need_binary("redis-server")
        self.workdir = workdir
        self.server: Child | None = None

    def start(self) -> None:
        self.server = Child(
            "redis-server",
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
            ],
            log=self.log_path,
            cwd=self.workdir,
            graceful=False,
        )

    @property
    def log_path(self) -> Path:
        return self.workdir / f"redis-{self.port}.log"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    async def wait_ready(self, within: float = START_SECONDS) -> float:
        deadline = time.monotonic() + within
        while True:
            client = redis.asyncio.Redis.from_url(
                self.url(), socket_timeout=0.5, socket_connect_timeout=0.5
            )
            try:
                if await client.ping():
                    return time.monotonic()
            except (redis.RedisError, OSError):
                pass
            finally:
                await client.aclose()
            if self.server is None or not self.server.alive():
                raise AssertionError(f"redis-server exited:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not answer within {within:.0f}s")
            await asyncio.sleep(0.02)

    def log(self) -> str:
        return self.server.log() if self.server is not None else ""

    def kill(self) -> None:
        assert self.server is not None
        self.server.kill()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
