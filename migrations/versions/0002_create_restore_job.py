"""create restore_job and restore_job_item

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 04:11:43.349391
"""

from __future__ import annotations

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

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_table("restore_job_item")
    with op.batch_alter_table("restore_job", schema=None) as batch_op:
        batch_op.drop_index("ix_restore_job_status_updated")

    op.drop_table("restore_job")
