"""Child processes of the fault suite: spare ports, binaries, and processes that die with
the test process.

Every process here is started from the test's main thread (pytest and pytest-asyncio run
there): PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, so a child
started from `asyncio.to_thread` would be signalled as soon as that pool thread exits.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.needs import services_required

LOCK_DIR = Path(tempfile.gettempdir())
# Where Debian puts daemons (mariadbd): not on every user's PATH.
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")

_used_ports: list[int] = []


def need_binary(name: str) -> str:
    """The path of the program `name`; skip the test without it (fail under
    REQUIRE_SERVICES=1, as tests.needs.need does for services)."""
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))
    if path is not None:
        return path
    reason = f"{name} is not installed on this machine"
    if services_required():
        pytest.fail(f"{reason}, and REQUIRE_SERVICES=1 says it must be", pytrace=False)
    pytest.skip(reason)


@contextmanager
def reserved_port(ports: range) -> Iterator[int]:
    """A port of `ports` held against every process on this machine while it is in use.

    A lock file per port keeps two runs of this suite (two checkouts, or CI beside a
    developer) off each other's ports; the bind probe skips a port something else holds.
    Ports not used yet by this session come first: a server just stopped may still hold
    its port for a moment.
    """
    for port in sorted(ports, key=_used_ports.count):
        with (LOCK_DIR / f"tasks-faults-{port}.lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            if not port_is_free(port):
                continue
            _used_ports.append(port)
            yield port  # the lock is released with the file, when the caller is done
            return
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As the servers do: a port whose last connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def listeners(port: int) -> int | None:
    """How many sockets listen on 127.0.0.1:`port` (Linux), or None where unknown.

    Granian binds with SO_REUSEPORT: a second server started on the same port by another
    run would share it silently, and this suite would then measure the wrong server.
    """
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    return sum(
        1
        for row in table
        if row.split()[3] == "0A" and row.split()[1] == f"0100007F:{port:04X}"  # LISTEN
    )


async def wait_until_closed(port: int, seconds: float = 10) -> None:
    """Wait for a stopped server's port to stop accepting (its worker processes outlive
    its main one briefly)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not port_accepts(port):
            return
        await asyncio.sleep(0.05)


# Loaded here, in the parent: after fork, the child only makes the one call.
_prctl = getattr(ctypes.CDLL(None), "prctl", None) if sys.platform == "linux" else None
PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: signal.Signals) -> None:
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, sig)


def _terminate_with_parent() -> None:
    # Servers that own children (Granian, Dramatiq) get SIGTERM, so that they stop them.
    _die_with_parent(signal.SIGTERM)


def _kill_with_parent() -> None:
    # Disposable daemons get SIGKILL: a SIGSTOPped mariadbd would hold a SIGTERM pending
    # for ever, and nothing of theirs is worth a clean shutdown.
    _die_with_parent(signal.SIGKILL)


class Child:
    """One child process, its output in a log file, stopped for sure by `stop()`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        cwd: Path,
        env: dict[str, str] | None = None,
        graceful: bool = True,
    ) -> None:
        self.name = name
        self.log_path = log
        self.started_at = time.monotonic()
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                # A group of its own: killpg reaches the server's worker processes too.
                start_new_session=True,
                preexec_fn=_terminate_with_parent if graceful else _kill_with_parent,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal_group(self, sig: signal.Signals) -> None:
        if self.alive():
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process and its group: no clean-up of any kind."""
        self.signal_group(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (after SIGCONT, in case a test left it stopped); SIGKILL if it lingers.

        SIGTERM goes to the main process only: Granian and Dramatiq stop their own worker
        processes (a Dramatiq whose workers get SIGTERM directly as well does not stop).
        """
        if not self.alive():
            return
        self.signal_group(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        # The group's other members (a server's workers) go with it.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


async def wait_for_log_line(child: Child, line: str, *, within: float) -> float:
    """Wait (without blocking the event loop) until `line` is in the child's log; returns
    the moment it was seen. Fails if the child exits first or the time runs out."""
    deadline = time.monotonic() + within
    while line not in child.log():
        if not child.alive():
            raise AssertionError(f"{child.name} exited at start:\n{child.log()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{child.name} not ready within {within:.0f}s:\n{child.log()[-4000:]}"
            )
        await asyncio.sleep(0.02)
    return time.monotonic()
