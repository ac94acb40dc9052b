"""Per-user API credentials (sealed with AES-GCM by `chatgate.http_apis.crypto`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

One row per (owner, API): the sealed token and the id of the key that sealed it. On PostgreSQL the
table gets the same owner-isolation policy as the other user tables (FORCEd, keyed on the
transaction-local `app.user_id`), so even a query that forgot its owner filter sees only the
caller's row, and `chatgate db grant-app-role` grants it with the rest.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLE = "api_credentials"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("owner", sa.String(1024), nullable=False),
        sa.Column("api_name", sa.String(32), nullable=False),
        sa.Column("sealed", sa.String(16384), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", "api_name", name="pk_api_credentials"),
        sa.CheckConstraint("owner <> ''", name="ck_api_credentials_owner_not_empty"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY {TABLE}_owner_isolation ON {TABLE} "
        "USING (owner = current_setting('app.user_id', true)) "
        "WITH CHECK (owner = current_setting('app.user_id', true))"
    )


def downgrade() -> None:
    op.drop_table(TABLE)
