"""Database wiring: the SQLAlchemy config, and the migration runner (upgrade / reset).

Alembic owns the schema. The app never calls `create_all`; `prepare_database` brings
the database to the migration head (after dropping everything when asked to).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
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
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
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


# A job's statements (a batch of thousands of rows) may take longer than a request's.
JOB_STATEMENT_TIMEOUT_SECONDS = 120.0


def _mysql_deadline(seconds: float) -> Callable[[Any, Any], None]:
    """On each new MySQL/MariaDB connection: the server stops a statement running longer
    than `seconds` (MariaDB: max_statement_time; MySQL 8: max_execution_time, SELECTs)."""

    def set_deadline(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT VERSION()")
        (version,) = cursor.fetchone()
        if "mariadb" in str(version).lower():
            cursor.execute(f"SET SESSION max_statement_time = {seconds:.3f}")
        else:
            cursor.execute(f"SET SESSION max_execution_time = {int(seconds * 1000)}")
        cursor.close()

    return set_deadline


def create_engine(
    settings: Settings, *, pooled: bool = True, statement_timeout: float | None = None
) -> AsyncEngine:
    """An engine for this process. Each process (app, worker, migrator) makes its own.

    Every statement has a deadline, `statement_timeout` seconds (DB_STATEMENT_TIMEOUT_SECONDS
    by default; migrations run without one, pooled=False): the server stops a statement
    that runs longer, and the driver gives up on a server that does not answer at all (a
    stalled process) a second after that. Waiting for a pooled connection has a deadline
    too (DB_POOL_TIMEOUT_SECONDS). Both end in an error the app answers with 503.
    """
    url = settings.database_url
    deadline = (
        settings.db_statement_timeout_seconds if statement_timeout is None else statement_timeout
    )
    # SQL errors must not carry the statement's parameters (a search text, a title) into
    # logs or job errors.
    common: dict[str, Any] = {"hide_parameters": True}
    if settings.is_sqlite:
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs = (
            {"pool_timeout": settings.db_pool_timeout_seconds}
            if pooled
            else {"poolclass": pool.NullPool}
        )
        engine = create_async_engine(url, **common, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if not pooled:
        return create_async_engine(url, **common, poolclass=pool.NullPool)
    engine = create_async_engine(
        url,
        **common,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_recycle=3600,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": max(1, round(settings.db_pool_timeout_seconds)),
            "read_timeout": deadline + 1,
        },
    )
    event.listen(engine.sync_engine, "connect", _mysql_deadline(deadline))
    return engine


def sqlalchemy_config(
    settings: Settings, engine: AsyncEngine | None = None
) -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        # Closes the request's session as its response starts, swallowing (and logging
        # at debug) an error of a connection that died with the database. The default
        # handler lets that error escape the app while the response starts, and the
        # server then answers a bare text 500 in place of the app's problem+json 503.
        # Services commit their own writes, so the commit it makes on a 2xx only ends a
        # read's transaction (as a close would have, with a rollback).
        before_send_handler="autocommit_include_redirects",
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


def database_unavailable(error: BaseException) -> BaseException | None:
    """The error of a database that does not answer in time (refused, gone, stalled,
    overloaded, no free connection in the pool), if `error` is or wraps one: trying
    again later may succeed. The repository and the driver wrap errors; the cause chain
    keeps the original."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OperationalError | InterfaceError | PoolTimeoutError):
            return cause
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return cause
        cause = cause.__cause__
    return None


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
        await cache.invalidate_all()
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
