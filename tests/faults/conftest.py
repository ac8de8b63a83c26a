"""Fixtures of the fault suite: a private MariaDB (one per session, migrated with
`python -m webapp migrate`), a private Redis per test, and the app and workers as real
processes. Everything started here is stopped, and its data removed, whatever the test's
outcome; if the test process itself dies, its children die with it (PR_SET_PDEATHSIG).

The suite takes minutes, so `make test` (plain `pytest`) leaves it out; it runs when
asked for by path (`make faults`, i.e. `pytest tests/faults`) or by `-m faults`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.commands import run_webapp
from tests.databases import make_settings
from tests.faults.dependencies import MARIADB_PORTS, REDIS_PORTS, PrivateMariaDB, PrivateRedis
from tests.faults.processes import reserved_port
from tests.faults.servers import Launcher
from tests.services.worker_process import empty_tables
from webapp.db import create_database, create_engine

FAULTS_DIR = Path(__file__).resolve().parent


def _asked_for(config: pytest.Config) -> bool:
    """Whether this run names the fault suite: a path inside it, or `-m` with `faults`."""
    if "faults" in (config.getoption("markexpr", "") or ""):
        return True
    root = config.invocation_params.dir
    for arg in config.args:
        path = (root / arg.split("::", 1)[0]).resolve()
        if path == FAULTS_DIR or FAULTS_DIR in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for(config):
        return
    ours = [item for item in items if FAULTS_DIR in item.path.parents]
    if ours:
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if FAULTS_DIR not in item.path.parents]


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    """A MariaDB of this session alone, its database migrated; removed at the end."""
    with reserved_port(MARIADB_PORTS) as port:
        server = PrivateMariaDB(port)
        try:
            server.install()
            server.start()
            asyncio.run(server.wait_ready())
            url = server.database_url
            asyncio.run(create_database(url))
            migrated = run_webapp(tmp_path_factory.mktemp("migrate"), "migrate", DATABASE_URL=url)
            assert migrated.returncode == 0, migrated.stderr
            yield server
        finally:
            server.remove()


@pytest.fixture
async def mariadb(mariadb_server: PrivateMariaDB) -> PrivateMariaDB:
    """The session's MariaDB, running (a failed test may have left it killed or stopped)
    and with empty tables."""
    server = mariadb_server
    if server.server is None or not server.server.alive():
        server.start()
    else:
        server.resume()
    await server.wait_ready()
    engine = create_engine(make_settings(server.database_url), pooled=False)
    try:
        await empty_tables(engine)  # but for the owner's account and token
    finally:
        await engine.dispose()
    return server


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    with reserved_port(REDIS_PORTS) as port:
        server = PrivateRedis(port, tmp_path)
        try:
            server.start()
            await server.wait_ready()
            yield server
        finally:
            server.stop()


@pytest.fixture
async def launcher(tmp_path: Path) -> AsyncIterator[Launcher]:
    with ExitStack() as ports:
        launched = Launcher(tmp_path, ports)
        try:
            yield launched
        finally:
            await launched.close()
