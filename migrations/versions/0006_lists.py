"""lists

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 03:26:01.603595

Lists of tasks (`task_list`), shared with other accounts (`list_member`), and the list
each task is in. Every account gets an Inbox, and every task it owns goes there.
"""

from __future__ import annotations

import datetime
import uuid

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
# collation: the title keeps sorting without regard to case (see 0001 and 0005).
TASK_TITLE = [
    sa.Column(
        "title",
        sa.String(200).with_variant(sa.String(200, collation="NOCASE"), "sqlite"),
        nullable=False,
    )
]
INBOX = "Inbox"

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ACCOUNT = sa.table("account", sa.column("id", GUID(length=16)))
TASK_LIST = sa.table(
    "task_list",
    sa.column("id", GUID(length=16)),
    sa.column("owner_id", GUID(length=16)),
    sa.column("name", sa.String),
    sa.column("is_inbox", sa.Boolean),
    sa.column("version", sa.Integer),
    sa.column("created_at", TIMESTAMP),
    sa.column("updated_at", TIMESTAMP),
)
TASK = sa.table(
    "task", sa.column("owner_id", GUID(length=16)), sa.column("list_id", GUID(length=16))
)


def upgrade() -> None:
    op.create_table(
        "task_list",
        sa.Column("id", sa.GUID(length=16), nullable=False),
        sa.Column("owner_id", sa.GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("is_inbox", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["account.id"],
            name=op.f("fk_task_list_owner_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_list")),
    )
    with op.batch_alter_table("task_list", schema=None) as batch_op:
        batch_op.create_index("ix_task_list_owner", ["owner_id", "created_at"], unique=False)

    op.create_table(
        "list_member",
        sa.Column("list_id", sa.GUID(length=16), nullable=False),
        sa.Column("account_id", sa.GUID(length=16), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_list_member_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["task_list.id"],
            name=op.f("fk_list_member_list_id_task_list"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", "account_id", name=op.f("pk_list_member")),
    )
    with op.batch_alter_table("list_member", schema=None) as batch_op:
        batch_op.create_index("ix_list_member_account", ["account_id"], unique=False)

    with op.batch_alter_table("task", schema=None, reflect_args=TASK_TITLE) as batch_op:
        batch_op.add_column(sa.Column("list_id", sa.GUID(length=16), nullable=True))
        for name, columns in (
            ("ix_task_list_created", ["list_id", "deleted_at", "created_at", "id"]),
            ("ix_task_list_due", ["list_id", "deleted_at", "due_date", "id"]),
            ("ix_task_list_priority", ["list_id", "deleted_at", "priority", "id"]),
            ("ix_task_list_state", ["list_id", "deleted_at", "completed_at"]),
            ("ix_task_list_title", ["list_id", "deleted_at", "title", "id"]),
        ):
            batch_op.create_index(name, columns, unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_task_list_id_task_list"),
            "task_list",
            ["list_id"],
            ["id"],
            ondelete="SET NULL",
        )

    # Every account gets its Inbox, and every task of its goes there (trashed ones too:
    # restored, they come back to it).
    connection = op.get_bind()
    now = datetime.datetime.now(datetime.UTC)
    for (account_id,) in connection.execute(sa.select(ACCOUNT.c.id)).all():
        inbox = uuid.uuid4()
        connection.execute(
            sa.insert(TASK_LIST).values(
                id=inbox,
                owner_id=account_id,
                name=INBOX,
                is_inbox=True,
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
        connection.execute(
            sa.update(TASK).where(TASK.c.owner_id == account_id).values(list_id=inbox)
        )


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None, reflect_args=TASK_TITLE) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_task_list_id_task_list"), type_="foreignkey")
        for name in (
            "ix_task_list_title",
            "ix_task_list_state",
            "ix_task_list_priority",
            "ix_task_list_due",
            "ix_task_list_created",
        ):
            batch_op.drop_index(name)
        batch_op.drop_column("list_id")
    # Their indexes go with them (MySQL refuses to drop an index a foreign key needs).
    op.drop_table("list_member")
    op.drop_table("task_list")
