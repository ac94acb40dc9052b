"""Instance leases: a conversation claimed by an instance that died is free again within seconds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

`conversations.active_instance` names the instance whose run holds the claim; `instance_leases` has
one row per running instance, renewed every few seconds (`chatgate.conversations.instance_lease`).
A claim whose instance stopped renewing no longer blocks the conversation.

`instance_leases` holds no user data (instance ids and times), so it has no row-level security;
roles granted on `conversations` (the service's role, by `chatgate db grant-app-role`) get the same
privileges on it, so an upgrade needs no new grant; the tools role never reaches it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "instance_leases"


def upgrade() -> None:
    op.add_column("conversations", sa.Column("active_instance", sa.String(128), nullable=True))
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
    )

    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
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
    op.drop_column("conversations", "active_instance")
