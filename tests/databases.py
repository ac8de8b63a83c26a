"""The test databases: settings that point at them, and the MariaDB ones' names."""

from __future__ import annotations

import os

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.needs import MARIADB_URL
from webapp.settings import Settings

# Two suites running at once (two checkouts, or the nox matrix beside `make test`) must
# not empty each other's tables: give each its own with TEST_MARIADB_DATABASE.
MARIADB_TEST_DATABASE = os.environ.get("TEST_MARIADB_DATABASE", "tasks_test")
# Tables emptied between MariaDB tests, children first.
APP_TABLES = (
    "idempotency_key",
    "job_item",
    "job",
    "task",
    "list_member",
    "task_list",
    "invite",
    "api_token",
    "account",
)


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for tests: never read the developer's .env."""
    return Settings(_env_file=None, database_url=database_url, **overrides)  # type: ignore[arg-type]


def mariadb_url(database: str) -> str:
    """The URL of the database `database` on the test MariaDB server."""
    return MARIADB_URL.rsplit("/", 1)[0] + f"/{database}"


async def empty_tables(url: str) -> None:
    """Delete every row of the app's tables (the schema stays)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for table in APP_TABLES:
                await connection.execute(text(f"DELETE FROM {table}"))
    finally:
        await engine.dispose()
