"""Shared fixtures: a migrated database per test (SQLite, and MariaDB where reachable),
settings pointing at it, the app, a test client and a service."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.accounts import CHEAP_HASHER, Person, alongside, browser_on, make_person
from tests.databases import MARIADB_TEST_DATABASE, empty_tables, make_settings, mariadb_url
from tests.needs import need
from webapp.accounts import passwords
from webapp.app import create_app
from webapp.cache import MemoryReadCache, ReadCache
from webapp.db import create_database, create_engine, prepare_database
from webapp.settings import Settings
from webapp.tasks.service import TaskService

# `replica_cluster`: three app replicas, two workers and nginx, for any test that names it
# (tests/cluster/replicas.py).
pytest_plugins = ("tests.cluster.replicas",)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "tasks.sqlite3"
    prepare_database(make_settings(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def mariadb_database() -> str:
    """The MariaDB test database, rebuilt from the migrations once per session."""
    need("mariadb")
    url = mariadb_url(MARIADB_TEST_DATABASE)
    asyncio.run(create_database(url))
    prepare_database(make_settings(url, db_reset_on_start=True))
    return url


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a copy of the SQLite template, or MariaDB emptied."""
    if request.param == "sqlite":
        path = tmp_path / "tasks.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("mariadb_database")
    asyncio.run(empty_tables(url))
    yield url


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", CHEAP_HASHER)
    passwords.dummy_hash.cache_clear()


@pytest.fixture
async def person(database_url: str) -> Person:
    """Ada, the first account (so the admin), with an API token."""
    return await make_person(database_url, "ada@example.com", name="Ada")


@pytest.fixture
async def stranger(database_url: str, person: Person) -> Person:
    """Bob, a second account: nothing of Ada's is his."""
    return await make_person(database_url, "bob@example.com", name="Bob")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, secret_key="test-secret-key-" + "x" * 32)


@pytest.fixture
def read_cache(settings: Settings) -> ReadCache:
    return MemoryReadCache(ttl_seconds=settings.cache_ttl_seconds)


@pytest.fixture
def app(settings: Settings, read_cache: ReadCache) -> Litestar:
    return create_app(settings, read_cache=read_cache)


@pytest.fixture
async def running(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The app, started (its lifespan entered) on the test client's event loop. The
    clients below are browsers on it: they share its loop and connections (a second
    AsyncTestClient would start the app again on another loop, where the first one's
    MariaDB and Redis connections fail)."""
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
async def client(
    running: AsyncTestClient[Litestar], person: Person
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A client signed in as `person`, in the browser's way and the API's."""
    async with alongside(running, person) as signed_in:
        # An httpx client on the test client's app, used as one.
        yield cast(AsyncTestClient[Litestar], signed_in)


@pytest.fixture
def anonymous(running: AsyncTestClient[Litestar]) -> AsyncTestClient[Litestar]:
    """A client nobody signed in with."""
    return cast(AsyncTestClient[Litestar], browser_on(running))


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session


@pytest.fixture
def service(session: AsyncSession, read_cache: ReadCache, person: Person) -> TaskService:
    """Ada's task service."""
    return TaskService(session, read_cache, person.caller)
