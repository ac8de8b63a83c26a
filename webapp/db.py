"""Database wiring: the SQLAlchemy config, and the migration runner (upgrade / reset).

Alembic owns the schema. The app never calls `create_all`; `prepare_database` brings
the database to the migration head (after dropping everything when asked to).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from pathlib import Path
from typing import Any

from advanced_alchemy.alembic.commands import AlembicCommands
from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
)
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import MetaData, event, pool
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from webapp.clock import utcnow
from webapp.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)


class _PrimaryKeyNameNote(logging.Filter):
    """Drops MySQL's note that it ignores a primary key's name (every key is `PRIMARY`).

    asyncmy logs each server note as a warning; migrations name their primary keys (for
    SQLite), so every fresh MySQL schema would otherwise start with one per table.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "ignored for PRIMARY key" not in record.getMessage()


logging.getLogger("asyncmy").addFilter(_PrimaryKeyNameNote())

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
VERSION_TABLE = "alembic_version"


class Timestamp(DateTimeUTC):
    """A UTC instant to the microsecond, on every database (models use it for every time).

    MySQL's plain DATETIME keeps whole seconds: two tasks deleted in one second would tie
    in the trash, and a write's response would show a time that later reads do not.
    """

    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(timezone=True, fsp=6))
        return dialect.type_descriptor(self.impl_instance)


class AuditedBase(UUIDv7AuditBase):
    """A table with a UUIDv7 `id` and `created_at`/`updated_at` kept as `Timestamp`s.

    advanced-alchemy's audit columns, redeclared so that they keep microseconds on MySQL
    too: restore jobs compare their `created_at` with the tasks' `deleted_at`.
    """

    __abstract__ = True

    created_at: Mapped[datetime.datetime] = mapped_column(
        Timestamp(timezone=True), default=utcnow, sort_order=3002
    )
    updated_at: Mapped[datetime.datetime] = mapped_column(
        Timestamp(timezone=True), default=utcnow, onupdate=utcnow, sort_order=3003
    )


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers run while a writer commits; busy_timeout waits for a lock instead
    # of failing at once when the in-process worker and a request write together.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(settings: Settings, *, pooled: bool = True) -> AsyncEngine:
    """An engine for this process. Each process (app, worker, migrator) makes its own."""
    url = settings.database_url
    if settings.is_sqlite:
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = (
            create_async_engine(url)
            if pooled
            else create_async_engine(url, poolclass=pool.NullPool)
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs: dict[str, object] = (
        {"pool_size": settings.db_pool_size, "pool_recycle": 3600, "pool_pre_ping": True}
        if pooled
        else {"poolclass": pool.NullPool}
    )
    return create_async_engine(url, **kwargs)


def sqlalchemy_config(
    settings: Settings, engine: AsyncEngine | None = None
) -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        engine_instance=engine or create_engine(settings),
        session_config=AsyncSessionConfig(expire_on_commit=False),
        alembic_config=AlembicAsyncConfig(
            script_location=str(MIGRATIONS_DIR),
            version_table_name=VERSION_TABLE,
            compare_type=True,
            render_as_batch=True,
        ),
        create_all=False,
        # advanced-alchemy would answer repository errors itself, in its own shape and as
        # 409 even for a database that is down; webapp.web.problems answers every error.
        set_default_exception_handler=False,
    )


def alembic_commands(settings: Settings) -> AlembicCommands:
    """Alembic, driven through advanced-alchemy, on a throwaway unpooled engine."""
    return AlembicCommands(sqlalchemy_config(settings, create_engine(settings, pooled=False)))


async def create_database(url: str) -> None:
    """Create the MySQL/MariaDB database `url` names if it does not exist (a SQLite file
    is created by its first connection). For tests and benchmarks on a shared server."""
    server_url, _, name = url.rpartition("/")
    engine = create_async_engine(server_url + "/", poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}`")
    finally:
        await engine.dispose()


def _drop_everything(connection: Connection) -> None:
    # Reflect rather than use the models' metadata: "everything" includes the version
    # table and any table an older revision created that the models no longer know.
    existing = MetaData()
    existing.reflect(bind=connection)
    existing.drop_all(bind=connection)


async def reset_database(settings: Settings) -> None:
    """Drop every table in the configured database, and forget what the cache holds of it."""
    engine = create_engine(settings, pooled=False)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_drop_everything)
    finally:
        await engine.dispose()
    # A shared Redis outlives the reset; entries read from the old tables must not be
    # served from the new ones. (Imported here: the cache module is not needed otherwise.)
    from webapp.cache import build_read_cache

    cache = build_read_cache(settings)
    try:
        await cache.invalidate()
    finally:
        await cache.close()


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    # Alembic's env.py runs its own event loop, so this is called outside of one (or from
    # a worker thread); see `prepare_database`.
    alembic_commands(settings).upgrade(revision)


def downgrade_database(settings: Settings, revision: str = "base") -> None:
    alembic_commands(settings).downgrade(revision)


def prepare_database(settings: Settings) -> None:
    """Reset (when DB_RESET_ON_START is true) and upgrade to the migration head."""
    if settings.db_reset_on_start:
        log.warning("DB_RESET_ON_START=true: dropping every table and re-applying migrations")
        asyncio.run(reset_database(settings))
    upgrade_database(settings)
