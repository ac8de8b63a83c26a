"""accounts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 02:28:41.179262

Accounts, their API tokens and invite links (webapp.accounts), and an owner on every task
and job, leading each task index. Rows that exist already keep a null owner: the first
account created afterwards claims them (`AccountService`), so an upgrade loses nothing.
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

# SQLite's batch mode copies the table from its reflection, which loses a column's
# collation: the title keeps sorting without regard to case (see 0001).
TASK_TITLE = [
    sa.Column(
        "title",
        sa.String(200).with_variant(sa.String(200, collation="NOCASE"), "sqlite"),
        nullable=False,
    )
]

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("id", sa.GUID(length=16), nullable=False),
        sa.Column(
            "email",
            sa.String(length=254).with_variant(
                mysql.VARCHAR(254, collation="utf8mb4_bin"), "mysql", "mariadb"
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("first_account", sa.Boolean(), nullable=True),
        sa.Column("disabled_at", TIMESTAMP, nullable=True),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("email", name=op.f("uq_account_email")),
        sa.UniqueConstraint("first_account", name=op.f("uq_account_first_account")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.GUID(length=16), nullable=False),
        sa.Column("account_id", sa.GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_api_token_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index("ix_api_token_account", ["account_id", "created_at"], unique=False)

    op.create_table(
        "invite",
        sa.Column("id", sa.GUID(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.GUID(length=16), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.Column("used_by", sa.GUID(length=16), nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["account.id"],
            name=op.f("fk_invite_created_by_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["used_by"], ["account.id"], name=op.f("fk_invite_used_by_account"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invite_token_hash")),
    )
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.create_index("ix_invite_created_by", ["created_by", "created_at"], unique=False)

    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.GUID(length=16), nullable=True))
        batch_op.create_index("ix_job_owner", ["owner_id", "created_at"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_job_owner_id_account"),
            "account",
            ["owner_id"],
            ["id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("task", schema=None, reflect_args=TASK_TITLE) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.GUID(length=16), nullable=True))
        batch_op.drop_index(batch_op.f("ix_task_live_created"))
        batch_op.create_index(
            "ix_task_live_created", ["owner_id", "deleted_at", "created_at", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_task_live_due"))
        batch_op.create_index(
            "ix_task_live_due", ["owner_id", "deleted_at", "due_date", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_task_live_priority"))
        batch_op.create_index(
            "ix_task_live_priority", ["owner_id", "deleted_at", "priority", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_task_live_title"))
        batch_op.create_index(
            "ix_task_live_title", ["owner_id", "deleted_at", "title", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_task_state"))
        batch_op.create_index(
            "ix_task_state", ["owner_id", "deleted_at", "completed_at"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_task_trash"))
        batch_op.create_index("ix_task_trash", ["owner_id", "deleted_at", "id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_task_owner_id_account"),
            "account",
            ["owner_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None, reflect_args=TASK_TITLE) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_task_owner_id_account"), type_="foreignkey")
        batch_op.drop_index("ix_task_trash")
        batch_op.create_index(batch_op.f("ix_task_trash"), ["deleted_at", "id"], unique=False)
        batch_op.drop_index("ix_task_state")
        batch_op.create_index(
            batch_op.f("ix_task_state"), ["deleted_at", "completed_at"], unique=False
        )
        batch_op.drop_index("ix_task_live_title")
        batch_op.create_index(
            batch_op.f("ix_task_live_title"), ["deleted_at", "title", "id"], unique=False
        )
        batch_op.drop_index("ix_task_live_priority")
        batch_op.create_index(
            batch_op.f("ix_task_live_priority"), ["deleted_at", "priority", "id"], unique=False
        )
        batch_op.drop_index("ix_task_live_due")
        batch_op.create_index(
            batch_op.f("ix_task_live_due"), ["deleted_at", "due_date", "id"], unique=False
        )
        batch_op.drop_index("ix_task_live_created")
        batch_op.create_index(
            batch_op.f("ix_task_live_created"), ["deleted_at", "created_at", "id"], unique=False
        )
        batch_op.drop_column("owner_id")

    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_job_owner_id_account"), type_="foreignkey")
        batch_op.drop_index("ix_job_owner")
        batch_op.drop_column("owner_id")

    # Their indexes go with them (MySQL refuses to drop an index a foreign key needs).
    op.drop_table("invite")
    op.drop_table("api_token")
    op.drop_table("account")
