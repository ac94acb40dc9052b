"""Schema migrations (Alembic, shipped inside the package) and the PostgreSQL application role.

`upgrade_database(url)` brings a database to the newest schema; the API calls it at start-up for every
SQLite database (and PostgreSQL with CHATGATE_AUTO_MIGRATE), and `chatgate db upgrade` runs it for
PostgreSQL. Migrations run on the async engine through `run_sync`, the pattern Alembic documents for
asyncio programs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from chatgate.storage.engine import create_engine, is_postgres
from chatgate.storage.identity import KEY_TABLE
from chatgate.storage.models import SERVICE_TABLES, USER_TABLES

# What tool servers use (declared tables aside), and what only the service may reach.
TOOL_TABLES = ("records", "tasks", "audit_log")
SERVICE_ONLY_TABLES = tuple(table for table in USER_TABLES + SERVICE_TABLES if table not in TOOL_TABLES)

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Our own version table, so an operator's Alembic history in the same database cannot collide.
VERSION_TABLE = "chatgate_alembic_version"
# Concurrent `db upgrade` runs (several instances starting at once) take turns on this lock.
_MIGRATION_LOCK_KEY = 0x63_68_61_74_67_61_74_65  # "chatgate"
# On SQLite the turn-taking is the write lock; another instance's upgrade may hold it this long (ms).
MIGRATION_SQLITE_BUSY_TIMEOUT_MS = 300_000


async def upgrade_database(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision` (default: the newest)."""
    engine = create_engine(url, poolclass=NullPool, sqlite_busy_timeout_ms=MIGRATION_SQLITE_BUSY_TIMEOUT_MS)
    try:
        async with engine.connect() as connection:
            # A write transaction from the start: on SQLite, BEGIN IMMEDIATE serializes concurrent upgrades.
            connection = await connection.execution_options(chatgate_write=True)
            async with connection.begin():
                if is_postgres(engine):
                    await connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                    )
                await connection.run_sync(_run_alembic_upgrade, revision)
    finally:
        await engine.dispose()


def _run_alembic_upgrade(connection: Connection, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def head_revision() -> str:
    """The newest revision the shipped migrations define."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


async def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at, or None when it was never migrated."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_read_revision)
    finally:
        await engine.dispose()


def _read_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def grant_app_role(url: str, role: str) -> None:
    """Grant `role` exactly what the service needs on PostgreSQL (run as the schema owner).

    The role must be a plain login role: not the tables' owner, not superuser, not BYPASSRLS, so the
    row-level security policies apply to it. It may read and write records, tasks, API credentials
    and conversations with their history, only append to the audit log, read the schema revision,
    and read the identity key it signs each transaction's identity with (`chatgate.storage.identity`).

    Raises:
        ValueError: the URL is not PostgreSQL, or the role is missing, a superuser or bypasses RLS.
    """
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            quoted, schema = await _checked_role(connection, engine, role)
            await connection.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {quoted}"))
            for table in USER_TABLES + SERVICE_TABLES:
                privileges = "INSERT" if table == "audit_log" else "SELECT, INSERT, UPDATE, DELETE"
                await connection.execute(text(f"GRANT {privileges} ON {table} TO {quoted}"))
            await connection.execute(text(f"GRANT SELECT ON {KEY_TABLE} TO {quoted}"))
            # Read-only, so the service can tell at start-up whether the schema needs an upgrade.
            await connection.execute(text(f"GRANT SELECT ON {VERSION_TABLE} TO {quoted}"))
            # agent_messages numbers its rows with a sequence.
            await connection.execute(
                text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}")
            )
    finally:
        await engine.dispose()


async def grant_tools_role(url: str, role: str) -> None:
    """Grant `role` what tool servers need on PostgreSQL, and check it reaches nothing more.

    Tool servers (`DATABASE_TOOLS_URL`) may read and write records and tasks and append to the audit
    log; declared tables are the operator's to grant. They must not reach conversations, their
    history, runs, API credentials, or the identity key (which would let them sign any user's
    identity), not even through membership in another role.

    Raises:
        ValueError: the URL is not PostgreSQL; the role is missing, a superuser or bypasses RLS; or
            after the grants it can still read one of those tables.
    """
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            quoted, schema = await _checked_role(connection, engine, role)
            await connection.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {quoted}"))
            for table in TOOL_TABLES:
                privileges = "INSERT" if table == "audit_log" else "SELECT, INSERT, UPDATE, DELETE"
                await connection.execute(text(f"GRANT {privileges} ON {table} TO {quoted}"))
            reachable = [
                table
                for table in (*SERVICE_ONLY_TABLES, KEY_TABLE)
                if (
                    await connection.execute(
                        text("SELECT has_table_privilege(:role, :table, 'SELECT,INSERT,UPDATE,DELETE')"),
                        {"role": role, "table": table},
                    )
                ).scalar_one()
            ]
            if reachable:
                raise ValueError(
                    f"role {role!r} can still reach {', '.join(reachable)} (through another role it "
                    "belongs to, or earlier grants); tool servers need a role of their own"
                )
    finally:
        await engine.dispose()


async def _checked_role(connection: AsyncConnection, engine: AsyncEngine, role: str) -> tuple[str, str]:
    """(the quoted role, the quoted current schema) after checking the role is a plain one."""
    if not is_postgres(engine):
        raise ValueError("database roles exist only on PostgreSQL")
    preparer = engine.dialect.identifier_preparer
    row = (
        await connection.execute(
            text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = :role"), {"role": role}
        )
    ).first()
    if row is None:
        raise ValueError(f"role {role!r} does not exist; create it first (CREATE ROLE … LOGIN)")
    if row[0]:
        raise ValueError(f"role {role!r} is a superuser or has BYPASSRLS; RLS would not apply to it")
    schema = (await connection.execute(text("SELECT current_schema()"))).scalar_one()
    return preparer.quote(role), preparer.quote(schema)


async def rls_bypassed(engine: AsyncEngine) -> bool:
    """True when `engine` connects to PostgreSQL as a role that row-level security does not bind."""
    if not is_postgres(engine):
        return False
    async with engine.connect() as connection:
        value = (
            await connection.execute(
                text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
            )
        ).scalar()
    return bool(value)
