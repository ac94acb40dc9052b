"""Row-level security keyed on a verified identity; conversation history behind its conversation.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

PostgreSQL only (SQLite has no roles to separate). Until now every policy compared `owner` with the
transaction-local setting `app.user_id`, which any connected role can set to anyone. From here:

- `chatgate_identity_key` holds a random HMAC key (generated here, never leaving the database except
  to roles granted SELECT: the service's role via `chatgate db grant-app-role`, never the tools
  role of `chatgate db grant-tools-role`).
- `chatgate_verified_user()` (`SECURITY DEFINER`, so it can read the key for any caller) returns the
  user id of the token in the setting `chatgate.identity` if its signature and expiry check out, else
  NULL (see `chatgate.storage.identity`).
- Every owner policy becomes `owner = (SELECT chatgate_verified_user())`: a scalar subquery, so the
  check runs once per statement, not per row. `app.user_id` by itself now opens nothing.
- `agent_sessions` and `agent_messages` (the Agents SDK's history tables, which have no owner
  column) get row-level security too: a row is visible only when its session id is a conversation
  the verified user owns, so the service's own role reads one user's history at a time.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OWNER_TABLES = ("records", "tasks", "audit_log", "api_credentials", "conversations", "conversation_runs")
HISTORY_TABLES = ("agent_sessions", "agent_messages")
KEY_TABLE = "chatgate_identity_key"
FUNCTION = "chatgate_verified_user"
VERIFIED = f"(SELECT {FUNCTION}())"
OLD_SETTING = "current_setting('app.user_id', true)"


def _pads(key: bytes) -> tuple[bytes, bytes]:
    # HMAC-SHA256 (RFC 2104) with a 32-byte key: the key zero-padded to the 64-byte block, XORed.
    block = key.ljust(64, b"\0")
    return bytes(byte ^ 0x36 for byte in block), bytes(byte ^ 0x5C for byte in block)


def _owner_policy(table: str, expression: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS {table}_owner_isolation ON {table}")
    op.execute(
        f"CREATE POLICY {table}_owner_isolation ON {table} "
        f"USING (owner = {expression}) WITH CHECK (owner = {expression})"
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.dialect.identifier_preparer.quote(
        bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    )
    op.execute(
        f"CREATE TABLE {KEY_TABLE} ("
        "id smallint PRIMARY KEY CHECK (id = 1), "
        "secret bytea NOT NULL, inner_pad bytea NOT NULL, outer_pad bytea NOT NULL)"
    )
    op.execute(f"REVOKE ALL ON {KEY_TABLE} FROM PUBLIC")
    secret = secrets.token_bytes(32)
    inner, outer = _pads(secret)
    bind.execute(
        sa.text(f"INSERT INTO {KEY_TABLE} (id, secret, inner_pad, outer_pad) VALUES (1, :s, :i, :o)"),  # noqa: S608
        {"s": secret, "i": inner, "o": outer},
    )
    # Built-in sha256 (PostgreSQL 11+), no extension needed. The digests are compared through
    # sha256 once more, so the comparison's timing says nothing about how much of a forged
    # signature was right.
    op.execute(
        f"""
        CREATE FUNCTION {schema}.{FUNCTION}() RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
        SET search_path = pg_catalog, pg_temp
        AS $$
          SELECT m[3]
          FROM regexp_match(
                 current_setting('chatgate.identity', true),
                 '^v1\\.([0-9]{{1,12}})\\.([0-9a-f]{{64}})\\.(.+)$'
               ) AS m,
               {schema}.{KEY_TABLE} AS k
          WHERE k.id = 1
            AND m[1]::bigint > extract(epoch FROM now())
            AND sha256(decode(m[2], 'hex')) = sha256(sha256(
                  k.outer_pad || sha256(k.inner_pad || convert_to(m[1] || ':' || m[3], 'UTF8'))))
        $$
        """  # noqa: S608 - names are constants and the quoted schema
    )
    for table in OWNER_TABLES:
        _owner_policy(table, VERIFIED)
    for table in HISTORY_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        # The conversations policy filters the subquery: only the verified user's conversations.
        mine = "session_id IN (SELECT id FROM conversations)"
        op.execute(
            f"CREATE POLICY {table}_conversation_isolation ON {table} USING ({mine}) WITH CHECK ({mine})"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in HISTORY_TABLES:
        op.execute(f"DROP POLICY IF EXISTS {table}_conversation_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in OWNER_TABLES:
        _owner_policy(table, OLD_SETTING)
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
    op.execute(f"DROP TABLE IF EXISTS {KEY_TABLE}")
