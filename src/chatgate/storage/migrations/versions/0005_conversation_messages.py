"""Message ids for conversation threads (the AI SDK's `UIMessage.id`), and what the history lacks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

The Agents SDK's history (`agent_messages`) stores model items, one row each, with no notion of the
messages a frontend shows. `conversation_messages` marks where each shown message begins: the
`agent_messages` row id of its first item, the id the client (user message) or the stream's `start`
chunk (assistant message) gave it, and what the items cannot say: whether the answer was stopped
(`interrupted`) and which of its tool calls failed (`failed_calls`, a JSON list of call ids).

On PostgreSQL the table sits behind the conversations policy like the history it annotates: a row
is visible only when its conversation is one the verified user owns and its owner is that user.
Roles granted on `conversations` (the service's role, by `chatgate db grant-app-role`) get the same
privileges here, so an upgrade needs no new grant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "conversation_messages"
VERIFIED = "(SELECT chatgate_verified_user())"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column(
            "conversation_id",
            sa.String(128),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("owner", sa.String(1024), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("first_item", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interrupted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("failed_calls", sa.Text(), nullable=False, server_default="[]"),
    )
    op.create_index("ix_conversation_messages_first_item", TABLE, ["conversation_id", "first_item"])

    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
    # The conversations policy filters the subquery: only the verified user's conversations.
    mine = f"owner = {VERIFIED} AND conversation_id IN (SELECT id FROM conversations)"  # noqa: S608 - constants
    op.execute(f"CREATE POLICY {TABLE}_conversation_isolation ON {TABLE} USING ({mine}) WITH CHECK ({mine})")
    grants = bind.execute(
        sa.text(
            "SELECT grantee, string_agg(privilege_type, ', ') FROM information_schema.role_table_grants "
            "WHERE table_name = 'conversations' AND table_schema = current_schema() "
            "AND privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE') "
            "AND grantee <> current_user GROUP BY grantee"
        )
    ).all()
    quote = bind.dialect.identifier_preparer.quote
    for grantee, privileges in grants:
        op.execute(f"GRANT {privileges} ON {TABLE} TO {quote(grantee)}")


def downgrade() -> None:
    op.drop_table(TABLE)
