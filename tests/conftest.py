"""Shared fixtures: a migrated database per test (SQLite, and MariaDB where reachable),
settings pointing at it, the app, a test client and a service."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tests.services import MARIADB_URL, need
from webapp.app import create_app
from webapp.cache import MemoryReadCache, ReadCache
from webapp.db import create_engine, prepare_database
from webapp.settings import Settings
from webapp.tasks.service import TaskService

# Two suites running at once (two checkouts, or the nox matrix beside `make test`) must
# not empty each other's tables: give each its own with TEST_MARIADB_DATABASE.
MARIADB_TEST_DATABASE = os.environ.get("TEST_MARIADB_DATABASE", "tasks_test")
# Tables emptied between MariaDB tests, children first.
APP_TABLES = ("restore_job_item", "restore_job", "task")


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for tests: never read the developer's .env."""
    return Settings(_env_file=None, database_url=database_url, **overrides)  # type: ignore[arg-type]


def mariadb_url(database: str) -> str:
    return MARIADB_URL.rsplit("/", 1)[0] + f"/{database}"


async def create_mariadb_database(name: str) -> None:
    engine = create_async_engine(MARIADB_URL)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}`"))
    finally:
        await engine.dispose()


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
    asyncio.run(create_mariadb_database(MARIADB_TEST_DATABASE))
    url = mariadb_url(MARIADB_TEST_DATABASE)
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
    asyncio.run(_empty_tables(url))
    yield url


async def _empty_tables(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for table in APP_TABLES:
                await connection.execute(text(f"DELETE FROM {table}"))
    finally:
        await engine.dispose()


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
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


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
def service(session: AsyncSession, read_cache: ReadCache) -> TaskService:
    return TaskService(session, read_cache)
