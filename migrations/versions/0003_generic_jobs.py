"""jobs of every kind in one table, with a lease

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 01:20:00

restore_job and restore_job_item become job and job_item: a kind column, the request in
`params`, the restore cursor in `cursor`, and a lease (lease_owner, lease_expires_at)
that lets two deliveries of one job take turns on every database. Existing restore jobs
are copied over (an unfinished one is picked up again by the next sweep).
"""

from __future__ import annotations

import datetime
import json
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from advanced_alchemy.types import GUID
from alembic import op
from sqlalchemy.dialects import mysql

# Autogenerate renders advanced-alchemy's types as `sa.<Type>`.
sa.GUID = GUID  # type: ignore[attr-defined]

# webapp.db.Timestamp spelled out, as in 0001: microseconds on MySQL (DATETIME(6)).
TIMESTAMP = sa.DateTime(timezone=True).with_variant(
    mysql.DATETIME(timezone=True, fsp=6), "mysql", "mariadb"
)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The tables as 0002 made them, for copying their rows.
OLD_JOB = sa.table(
    "restore_job",
    sa.column("id", GUID(length=16)),
    sa.column("status", sa.String(10)),
    sa.column("scope", sa.String(10)),
    sa.column("total", sa.Integer),
    sa.column("restored", sa.Integer),
    sa.column("skipped", sa.Integer),
    sa.column("last_task_id", GUID(length=16)),
    sa.column("last_deleted_at", TIMESTAMP),
    sa.column("error", sa.Text),
    sa.column("started_at", TIMESTAMP),
    sa.column("finished_at", TIMESTAMP),
    sa.column("created_at", TIMESTAMP),
    sa.column("updated_at", TIMESTAMP),
)
OLD_ITEM = sa.table(
    "restore_job_item", sa.column("job_id", GUID(length=16)), sa.column("task_id", GUID(length=16))
)
JOB = sa.table(
    "job",
    sa.column("id", GUID(length=16)),
    sa.column("kind", sa.String(20)),
    sa.column("status", sa.String(10)),
    sa.column("total", sa.Integer),
    sa.column("done", sa.Integer),
    sa.column("skipped", sa.Integer),
    sa.column("params", sa.Text),
    sa.column("cursor", sa.Text),
    sa.column("error", sa.Text),
    sa.column("started_at", TIMESTAMP),
    sa.column("finished_at", TIMESTAMP),
    sa.column("created_at", TIMESTAMP),
    sa.column("updated_at", TIMESTAMP),
)
ITEM = sa.table(
    "job_item", sa.column("job_id", GUID(length=16)), sa.column("item_id", GUID(length=16))
)


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _cursor(row: Any) -> str | None:
    if row.last_task_id is None:
        return None
    cursor = {"task_id": str(row.last_task_id)}
    if row.scope == "all" and row.last_deleted_at is not None:
        cursor["deleted_at"] = _utc(row.last_deleted_at).isoformat()
    return json.dumps(cursor)


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", sa.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", TIMESTAMP, nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index("ix_job_status_updated", ["status", "updated_at"], unique=False)

    op.create_table(
        "job_item",
        sa.Column("job_id", sa.GUID(length=16), nullable=False),
        sa.Column("item_id", sa.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_job_item_job_id_job"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "item_id", name=op.f("pk_job_item")),
    )

    connection = op.get_bind()
    jobs = connection.execute(sa.select(OLD_JOB)).all()
    if jobs:
        connection.execute(
            JOB.insert(),
            [
                {
                    "id": row.id,
                    "kind": "restore",
                    "status": row.status,
                    "total": row.total,
                    "done": row.restored,
                    "skipped": row.skipped,
                    "params": json.dumps({"scope": row.scope}),
                    "cursor": _cursor(row),
                    "error": row.error,
                    "started_at": row.started_at,
                    "finished_at": row.finished_at,
                    "created_at": row.created_at,
                    "updated_at": row.updated_at,
                }
                for row in jobs
            ],
        )
    items = connection.execute(sa.select(OLD_ITEM)).all()
    for start in range(0, len(items), 5000):
        connection.execute(
            ITEM.insert(),
            [{"job_id": r.job_id, "item_id": r.task_id} for r in items[start : start + 5000]],
        )

    op.drop_table("restore_job_item")
    with op.batch_alter_table("restore_job", schema=None) as batch_op:
        batch_op.drop_index("ix_restore_job_status_updated")
    op.drop_table("restore_job")


def downgrade() -> None:
    op.create_table(
        "restore_job",
        sa.Column("id", sa.GUID(length=16), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("restored", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("last_task_id", sa.GUID(length=16), nullable=True),
        sa.Column("last_deleted_at", TIMESTAMP, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restore_job")),
    )
    with op.batch_alter_table("restore_job", schema=None) as batch_op:
        batch_op.create_index(
            "ix_restore_job_status_updated", ["status", "updated_at"], unique=False
        )
    op.create_table(
        "restore_job_item",
        sa.Column("job_id", sa.GUID(length=16), nullable=False),
        sa.Column("task_id", sa.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["restore_job.id"],
            name=op.f("fk_restore_job_item_job_id_restore_job"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "task_id", name=op.f("pk_restore_job_item")),
    )

    connection = op.get_bind()
    jobs = connection.execute(sa.select(JOB).where(JOB.c.kind == "restore")).all()
    if jobs:
        rows = []
        for row in jobs:
            cursor = json.loads(row.cursor) if row.cursor else {}
            rows.append(
                {
                    "id": row.id,
                    "status": row.status,
                    "scope": json.loads(row.params)["scope"],
                    "total": row.total,
                    "restored": row.done,
                    "skipped": row.skipped,
                    "last_task_id": UUID(cursor["task_id"]) if "task_id" in cursor else None,
                    "last_deleted_at": (
                        datetime.datetime.fromisoformat(cursor["deleted_at"])
                        if "deleted_at" in cursor
                        else None
                    ),
                    "error": row.error,
                    "started_at": row.started_at,
                    "finished_at": row.finished_at,
                    "created_at": row.created_at,
                    "updated_at": row.updated_at,
                }
            )
        connection.execute(OLD_JOB.insert(), rows)
        restore_ids = {row.id for row in jobs}
        items = [
            {"job_id": r.job_id, "task_id": r.item_id}
            for r in connection.execute(sa.select(ITEM)).all()
            if r.job_id in restore_ids
        ]
        for start in range(0, len(items), 5000):
            connection.execute(OLD_ITEM.insert(), items[start : start + 5000])

    op.drop_table("job_item")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_status_updated")
    op.drop_table("job")
