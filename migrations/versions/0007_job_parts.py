"""job parts: what a job was given, in pieces a worker reads one at a time

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00

An import job stores the records of its file here (a few hundred per part) and its
report; the database is the only storage the app and the workers share.
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID
from alembic import op
from sqlalchemy.dialects import mysql

# Autogenerate renders advanced-alchemy's types as `sa.<Type>`.
sa.GUID = GUID  # type: ignore[attr-defined]

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_part",
        sa.Column("job_id", sa.GUID(length=16), nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "data",
            sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_job_part_job_id_job"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "part", name=op.f("pk_job_part")),
    )


def downgrade() -> None:
    op.drop_table("job_part")
