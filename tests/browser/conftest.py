"""The real app under Granian, on its own SQLite file, and Debian's Chromium driven by
Playwright. Never `playwright install`: the browser is the system's /usr/bin/chromium."""

from __future__ import annotations

import ctypes
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.needs import CHROMIUM, need

# Ports this suite may use for its servers (other suites on the machine use others).
PORTS = range(8101, 8110)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
STARTUP_SECONDS = 30


_used_ports: list[int] = []
LOCK_DIR = Path(tempfile.gettempdir())


@contextmanager
def reserved_port() -> Iterator[int]:
    """A port of PORTS held for one server, against every process on this machine.

    Granian binds with SO_REUSEPORT, so two servers started at once on one port would
    share it and the kernel would spread connections between them: another test run's
    browser would then talk to this run's server. A lock file per port, held while the
    server lives, keeps concurrent runs (`make test` beside the nox matrix, or two
    checkouts) on different ports; the bind probe skips ports anything else is using.
    """
    # Ports not used yet this session first: a stopped server's port may still be held a
    # moment by its exiting worker process.
    for port in sorted(PORTS, key=_used_ports.count):
        with (LOCK_DIR / f"tasks-browser-tests-{port}.lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            with socket.socket() as probe:
                # As the server will: a port whose last connections linger in TIME_WAIT
                # is free.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _used_ports.append(port)
            yield port  # the lock is released when the server is gone
            return
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


# Loaded here, in the parent: after fork, the child only makes the one call.
_prctl = getattr(ctypes.CDLL(None), "prctl", None) if sys.platform == "linux" else None
PR_SET_PDEATHSIG = 1


def stop_with_parent() -> None:
    """In the server's process: get SIGTERM when the test process dies, even if it is
    killed before its fixtures can stop the server. The setting survives the exec into
    Granian."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Server:
    def __init__(
        self, base_url: str, process: subprocess.Popen[bytes], log: Path, env: dict[str, str]
    ) -> None:
        self.base_url = base_url
        self.process = process
        self.log = log
        self.env = env

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def create_account(self, email: str, password: str = "a long password") -> Account:
        """An account made with the command line (as an operator would), and its token."""
        webapp = [sys.executable, "-m", "webapp"]
        options = {
            "env": self.env,
            "cwd": self.log.parent,  # the server's directory: no developer .env is read
            "capture_output": True,
            "text": True,
            "check": True,
        }
        subprocess.run([*webapp, "create-user", email], input=password + "\n", **options)  # type: ignore[call-overload]
        made = subprocess.run([*webapp, "create-token", email], **options)  # type: ignore[call-overload]
        return Account(email=email, password=password, token=made.stdout.strip())


def log_in(page: Page, server: Server, account: Account) -> None:
    """Log in through the log-in form, as a person does."""
    page.goto(server.url("/login"))
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server.url("/"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`python -m webapp migrate`, then `serve` (Granian) on a free port, then stop it."""
    need("chromium")
    with reserved_port() as port:
        yield from run_server(tmp_path, port)


def run_server(
    tmp_path: Path,
    port: int,
    *,
    database: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """A server working in `tmp_path`, on its own SQLite file or the shared `database`,
    with `extra_env` over the defaults (REDIS_URL, say, for servers that share it)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{database or tmp_path / 'tasks.sqlite3'}",
        # A key of its own: a form from any other server is refused, never applied here.
        "SECRET_KEY": secrets.token_urlsafe(32),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "REDIS_URL": "",
        "BROKER_URL": "",
        "LOG_LEVEL": "WARNING",
        "DB_RESET_ON_START": "false",
        **(extra_env or {}),
    }
    # The temporary directory as working directory: no developer .env is read.
    subprocess.run([sys.executable, "-m", "webapp", "migrate"], cwd=tmp_path, env=env, check=True)
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp", "serve", "--no-migrate"],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=stop_with_parent,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited at start:\n{log.read_text()}")
            try:
                if httpx.get(base_url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer within {STARTUP_SECONDS}s")
            time.sleep(0.1)
        # Granian binds with SO_REUSEPORT: a server of another test run that started on
        # this port at the same moment would share it, and each run's browser would then
        # reach both servers. Better to fail than to test the wrong one.
        if (count := listeners(port)) not in (None, 1):
            pytest.fail(f"{count} servers listen on port {port}: another test run shares it")
        yield Server(base_url, process, log, env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        wait_until_closed(port)


def listeners(port: int) -> int | None:
    """How many sockets listen on 127.0.0.1:`port` (Linux), or None where unknown."""
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    return sum(
        1
        for row in table
        if row.split()[3] == "0A" and row.split()[1] == f"0100007F:{port:04X}"  # LISTEN
    )


def wait_until_closed(port: int, seconds: float = 10) -> None:
    """Granian's worker processes outlive its main one briefly; wait for the port to close."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return
        time.sleep(0.1)


# Module scope, not session: Playwright's sync API keeps an event loop running in this
# thread while it is started, and the async tests that run after these need it stopped.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    need("chromium")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = CHROMIUM if os.access(CHROMIUM, os.X_OK) else "chromium"
    browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def new_context(browser: Browser, *, javascript: bool, **options: object) -> BrowserContext:
    context = browser.new_context(java_script_enabled=javascript, **options)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
def page_with_js(browser: Browser) -> Iterator[Page]:
    context = new_context(browser, javascript=True)
    yield context.new_page()
    context.close()
