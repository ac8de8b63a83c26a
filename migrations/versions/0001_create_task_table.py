"""create task table

Revision ID: 0001
Revises:
Create Date: 2026-11-26 03:59:34.611595
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID
from alembic import op
from sqlalchemy.dialects import mysql

# Autogenerate renders advanced-alchemy's types as `sa.<Type>`.
sa.GUID = GUID  # type: ignore[attr-defined]

# The column types of webapp.db.Timestamp and Task.title, spelled out so that this
# revision keeps creating the same schema whatever those become: times to the microsecond
# on MySQL (DATETIME(6)), titles that sort regardless of case on SQLite (NOCASE).
# `alembic check` does not compare precision or collation; tests/app/test_migrations.py
# compares the column types exactly.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(
    mysql.DATETIME(timezone=True, fsp=6), "mysql", "mariadb"
)
TITLE = sa.String(length=200).with_variant(sa.String(length=200, collation="NOCASE"), "sqlite")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task",
        sa.Column("id", sa.GUID(length=16), nullable=False),
        sa.Column("title", TITLE, nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_live_created", ["deleted_at", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_task_live_due", ["deleted_at", "due_date", "id"], unique=False)
        batch_op.create_index(
            "ix_task_live_priority", ["deleted_at", "priority", "id"], unique=False
        )
        batch_op.create_index("ix_task_live_title", ["deleted_at", "title", "id"], unique=False)
        batch_op.create_index("ix_task_state", ["deleted_at", "completed_at"], unique=False)
        batch_op.create_index("ix_task_trash", ["deleted_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_trash")
        batch_op.drop_index("ix_task_state")
        batch_op.drop_index("ix_task_live_title")
        batch_op.drop_index("ix_task_live_priority")
        batch_op.drop_index("ix_task_live_due")
        batch_op.drop_index("ix_task_live_created")

    op.drop_table("task")
