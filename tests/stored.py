"""What the database holds, read around the app: the ground truth tests compare against."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.databases import make_settings
from webapp.db import create_engine
from webapp.tasks.models import Task


async def stored_tasks(database_url: str) -> list[dict[str, Any]]:
    """Every row of the task table (live and trashed), in id order, on a fresh connection."""
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(select(Task.__table__).order_by(Task.id))
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()
