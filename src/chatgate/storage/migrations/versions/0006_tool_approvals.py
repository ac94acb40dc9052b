"""Tool approvals: a paused run waiting for its user, and the approvals it asked for.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

`paused_runs` holds, per conversation, the Agents SDK's serialised `RunState` of a run that stopped
because a tool call needs the user's approval (no process waits: the state is resumed in a fresh
tool server when the user answers). `tool_approvals` holds one row per call awaiting an answer: an
unguessable id, the tool and the exact arguments shown to the user, and once answered the decision
(kept, so a replayed answer is recognised and changes nothing).

On PostgreSQL both sit behind the conversations policy like the history they belong to: a row is
visible only when its owner is the verified user and its conversation is one that user owns. Roles
granted on `conversations` (the service's role, by `chatgate db grant-app-role`) get the same
privileges here, so an upgrade needs no new grant; the tools role never reaches them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("paused_runs", "tool_approvals")
VERIFIED = "(SELECT chatgate_verified_user())"


def _conversation_column(*, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(
        "conversation_id",
        sa.String(128),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "paused_runs",
        _conversation_column(primary_key=True),
        sa.Column("owner", sa.String(1024), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "tool_approvals",
        sa.Column("id", sa.String(64), primary_key=True),
        _conversation_column(),
        sa.Column("owner", sa.String(1024), nullable=False),
        sa.Column("tool_call_id", sa.String(256), nullable=False),
        sa.Column("tool", sa.String(256), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_tool_approvals_conversation", "tool_approvals", ["conversation_id", "created_at"])

    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    mine = f"owner = {VERIFIED} AND conversation_id IN (SELECT id FROM conversations)"  # noqa: S608
    grants = bind.execute(
        sa.text(
            "SELECT grantee, string_agg(privilege_type, ', ') FROM information_schema.role_table_grants "
            "WHERE table_name = 'conversations' AND table_schema = current_schema() "
            "AND privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE') "
            "AND grantee <> current_user GROUP BY grantee"
        )
    ).all()
    quote = bind.dialect.identifier_preparer.quote
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        # The conversations policy filters the subquery: only the verified user's conversations.
        op.execute(
            f"CREATE POLICY {table}_conversation_isolation ON {table} USING ({mine}) WITH CHECK ({mine})"
        )
        for grantee, privileges in grants:
            op.execute(f"GRANT {privileges} ON {table} TO {quote(grantee)}")


def downgrade() -> None:
    op.drop_table("tool_approvals")
    op.drop_table("paused_runs")
