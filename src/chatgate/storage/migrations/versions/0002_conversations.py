"""Conversations: ownership and runs, plus the Agents SDK's session tables for their messages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

`conversations` and `conversation_runs` are user tables: on PostgreSQL they get the same forced
row-level security as the tool tables. `agent_sessions` / `agent_messages` are the schema the Agents
SDK's `SQLAlchemySession` expects (created here so production never uses its `create_tables`); they
are read and written only by the API process, keyed by conversation ids whose ownership
`conversations` decides.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

USER_TABLES = ("conversations", "conversation_runs")


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("owner", sa.String(1024), nullable=False),
        sa.Column("title", sa.String(320), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active_request_id", sa.String(128), nullable=True),
        sa.Column("active_since", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("owner <> ''", name="ck_conversations_owner_not_empty"),
    )
    op.create_index("ix_conversations_owner_updated", "conversations", ["owner", "updated_at"])
    op.create_table(
        "conversation_runs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "conversation_id",
            sa.String(128),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("owner", sa.String(1024), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        *(
            sa.Column(f"{name}_ms", sa.Float(), nullable=False)
            for name in ("launch", "model", "tools", "teardown")
        ),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("requests", "input_tokens", "output_tokens", "total_tokens")
        ),
    )
    op.create_index(
        "ix_conversation_runs_conversation", "conversation_runs", ["conversation_id", "started_at"]
    )

    # The Agents SDK's SQLAlchemySession schema (agents/extensions/memory/sqlalchemy_session.py).
    op.create_table(
        "agent_sessions",
        sa.Column("session_id", sa.String(), primary_key=True),
        sa.Column(
            "created_at",
            sa.TIMESTAMP(timezone=False),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.TIMESTAMP(timezone=False),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
    )
    op.create_table(
        "agent_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "session_id",
            sa.String(),
            sa.ForeignKey("agent_sessions.session_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("message_data", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.TIMESTAMP(timezone=False),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("idx_agent_messages_session_time", "agent_messages", ["session_id", "created_at"])

    if op.get_bind().dialect.name != "postgresql":
        return
    for table in USER_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_owner_isolation ON {table} "
            "USING (owner = current_setting('app.user_id', true)) "
            "WITH CHECK (owner = current_setting('app.user_id', true))"
        )


def downgrade() -> None:
    op.drop_table("agent_messages")
    op.drop_table("agent_sessions")
    op.drop_table("conversation_runs")
    op.drop_table("conversations")
