"""Initial schema: records, tasks, audit_log; row-level security on PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

On PostgreSQL every user table gets row-level security keyed on the transaction-local setting
`app.user_id` (set by `chatgate.storage.engine.owner_transaction`), with FORCE so that even the
table owner is subject to it. Superusers and BYPASSRLS roles still bypass RLS: the application must
connect as a plain role, granted with `chatgate db grant-app-role NAME` (see README).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

USER_TABLES = ("records", "tasks", "audit_log")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_UUID = sa.Uuid()


def _owner() -> sa.Column[Any]:
    return sa.Column("owner", sa.String(1024), nullable=False)


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("id", _UUID, primary_key=True),
        _owner(),
        sa.Column("collection", sa.String(64), nullable=False),
        sa.Column("data", _JSON, nullable=False),
        *_timestamps(),
        sa.CheckConstraint("owner <> ''", name="ck_records_owner_not_empty"),
    )
    op.create_index("ix_records_owner_collection", "records", ["owner", "collection", "created_at"])

    op.create_table(
        "tasks",
        sa.Column("id", _UUID, primary_key=True),
        _owner(),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("notes", sa.String(4000), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("priority", sa.String(10), nullable=False, server_default="normal"),
        *_timestamps(),
        sa.CheckConstraint("owner <> ''", name="ck_tasks_owner_not_empty"),
    )
    op.create_index("ix_tasks_owner_created", "tasks", ["owner", "created_at"])

    op.create_table(
        "audit_log",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _owner(),
        sa.Column("tool", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False, server_default=""),
    )
    op.create_index("ix_audit_log_owner_at", "audit_log", ["owner", "at"])

    if op.get_bind().dialect.name != "postgresql":
        return
    # Containment filters (`data @> '{"k": v}'`) use this index.
    op.create_index(
        "ix_records_data",
        "records",
        ["data"],
        postgresql_using="gin",
        postgresql_ops={"data": "jsonb_path_ops"},
    )
    for table in USER_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        # FORCE: the owning role is subject to the policy too, so a deployment that connects as the
        # owner is still protected. (Superusers and BYPASSRLS roles are not; never connect as one.)
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        # `current_setting(..., true)` is NULL when never set and '' after a transaction-local set
        # ends; neither equals a real owner (owners are non-empty), so an unset user sees nothing.
        op.execute(
            f"CREATE POLICY {table}_owner_isolation ON {table} "
            "USING (owner = current_setting('app.user_id', true)) "
            "WITH CHECK (owner = current_setting('app.user_id', true))"
        )


def downgrade() -> None:
    for table in reversed(USER_TABLES):
        op.drop_table(table)
