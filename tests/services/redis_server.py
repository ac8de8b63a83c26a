"""A redis-server of a test's own on a spare port (PRIVATE_PORTS), to kill, stop and
restart: the outages the shared Redis must never see."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.needs import need, services_required

PRIVATE_PORTS = range(6390, 6400)


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# What the connection that reads the statistics runs itself.
_ASKING = {"info", "hello", "client|setinfo"}


@dataclass
class PrivateRedis:
    """A redis-server of the test's own, with an append-only file so that its data
    (the stale entries an outage must not resurrect) survives a kill and restart."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.directory / "redis.log"),
            # DEBUG SLEEP: a Redis that is slow for a moment, without stopping it.
            "--enable-debug-command",
            "yes",
        ]
        self.process = subprocess.Popen(command)
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        for _ in range(100):
            try:
                if client.ping():
                    client.close()
                    return
            except redis.RedisError:
                time.sleep(0.05)
        client.close()
        raise RuntimeError(f"private redis-server on port {self.port} did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def commands(self) -> dict[str, int]:
        """How many of each command the server has run (INFO commandstats, which counts
        the commands a script runs too)."""
        client = redis.Redis(port=self.port)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}

    def commands_since(self, before: dict[str, int]) -> dict[str, int]:
        after = self.commands()
        ran = {name: calls - before.get(name, 0) for name, calls in after.items()}
        return {name: calls for name, calls in ran.items() if calls and name not in _ASKING}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    need("redis")
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (needed to simulate an outage)"
        if services_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    port = next((p for p in PRIVATE_PORTS if _port_is_free(p)), None)
    if port is None:
        pytest.skip(f"no free port in {PRIVATE_PORTS} for a private redis-server")
    server = PrivateRedis(port=port, directory=tmp_path)
    server.start()
    yield server
    if server.process is not None:
        server.resume()
        server.kill()
