"""Migrations: shipped in the package, idempotent, and runnable from the `db` command group."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from chatgate.conversations.history import user_message_row
from chatgate.conversations.message_index import MessageIndex, TurnIds, TurnMarks
from chatgate.conversations.models import ConversationRun
from chatgate.conversations.store import ConversationStore
from chatgate.storage import create_engine, current_revision, upgrade_database
from chatgate.storage.cli import add_db_commands, main
from chatgate.storage.engine import SQLITE_BUSY_TIMEOUT_MS
from chatgate.storage.errors import RowNotFoundError
from chatgate.storage.migrate import MIGRATIONS_DIR, head_revision
from chatgate.storage.models import utc_now
from support.postgres import execute, fresh_postgres_database, postgres_admin_url


def test_migrations_live_inside_the_package() -> None:
    import chatgate

    package = Path(chatgate.__file__).parent
    assert MIGRATIONS_DIR.is_relative_to(package)
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert any(MIGRATIONS_DIR.glob("versions/0001_*.py"))


async def test_upgrade_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'chatgate.db'}"  # plain sqlite:// maps onto aiosqlite
    assert await current_revision(url) is None
    await upgrade_database(url)
    await upgrade_database(url)
    assert await current_revision(url) == head_revision()
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
            journal = (await connection.execute(sa.text("PRAGMA journal_mode"))).scalar()
            foreign_keys = (await connection.execute(sa.text("PRAGMA foreign_keys"))).scalar()
    finally:
        await engine.dispose()
    assert {"records", "tasks", "audit_log", "api_credentials", "chatgate_alembic_version"} <= set(tables)
    assert {"conversations", "conversation_runs", "agent_sessions", "agent_messages"} <= set(tables)
    assert journal == "wal" and foreign_keys == 1


async def test_concurrent_upgrades_on_sqlite_take_turns(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
    await asyncio.gather(*(upgrade_database(url) for _ in range(3)))
    assert await current_revision(url) == head_revision()


async def test_an_upgrade_waits_out_another_instances_long_write_on_sqlite(tmp_path: Path) -> None:
    # Another instance's migration can hold SQLite's write lock for longer than the ordinary busy
    # timeout (a loaded machine, a big table); this upgrade must wait for it, not fail "database is locked".
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE other_instance_was_here (x INTEGER)")
    upgrade = asyncio.create_task(upgrade_database(f"sqlite+aiosqlite:///{path}"))
    try:
        await asyncio.sleep(SQLITE_BUSY_TIMEOUT_MS / 1000 + 1)  # hold the lock past the ordinary timeout
        assert not upgrade.done(), upgrade.exception() if upgrade.done() else None
    finally:
        holder.execute("COMMIT")
        holder.close()
    await upgrade
    assert await current_revision(f"sqlite+aiosqlite:///{path}") == head_revision()


@pytest.mark.postgres
async def test_postgres_schema_is_at_head(postgres_run: object) -> None:
    assert await current_revision(postgres_run.admin_url) == head_revision()  # type: ignore[attr-defined]


def test_cli_upgrade_and_current(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert main(["db", "current", "--url", url]) == 0
    assert capsys.readouterr().out.strip() == "not migrated"
    assert main(["db", "upgrade", "--url", url]) == 0
    assert f"revision {head_revision()}" in capsys.readouterr().out
    assert main(["db", "current", "--url", url]) == 0
    assert capsys.readouterr().out.strip() == head_revision()


def test_cli_reports_errors_without_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--url", "mysql://nobody@localhost/x"]) == 1
    assert "must be sqlite or postgresql" in capsys.readouterr().err
    assert main(["db", "grant-app-role", "app", "--url", f"sqlite:///{tmp_path / 'x.db'}"]) == 1
    assert "only on PostgreSQL" in capsys.readouterr().err


def test_db_commands_plug_into_any_subparsers() -> None:
    parser = argparse.ArgumentParser(prog="chatgate")
    add_db_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["db", "grant-app-role", "chatgate_app"])
    assert args.role == "chatgate_app" and callable(args.handler)


@pytest.mark.postgres
async def test_grant_app_role_refuses_roles_that_bypass_rls(postgres_run: object) -> None:
    from chatgate.storage import grant_app_role

    with pytest.raises(ValueError, match="superuser or has BYPASSRLS"):
        await grant_app_role(postgres_run.admin_url, "postgres")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="does not exist"):
        await grant_app_role(postgres_run.admin_url, "no_such_role_chatgate")  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_upgrading_keeps_the_service_role_working_on_new_conversation_tables() -> None:
    """A database granted before 0005 (no `conversation_messages` then): after the upgrade the service's
    role reaches the new table, for its own conversations only, with no new grant."""
    role = f"chatgate_upgrade_{uuid.uuid4().hex[:10]}"
    with fresh_postgres_database() as admin_url:
        asyncio.run(upgrade_database(admin_url, "0004"))
        asyncio.run(
            execute(
                admin_url,
                f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT',
                f'GRANT USAGE ON SCHEMA public TO "{role}"',
                # What `grant-app-role` granted on conversations and their history before 0005.
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON conversations, conversation_runs, agent_sessions, "
                f'agent_messages TO "{role}"',
                f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
                f'GRANT SELECT ON chatgate_identity_key TO "{role}"',
            )
        )
        try:
            asyncio.run(upgrade_database(admin_url))
            app_url = make_url(admin_url).set(username=role, password=None).render_as_string(False)
            asyncio.run(_thread_of_a_new_conversation(app_url))
        finally:
            asyncio.run(execute(admin_url, f'DROP OWNED BY "{role}"'))
            asyncio.run(execute(postgres_admin_url(), f'DROP ROLE IF EXISTS "{role}"'))


async def _thread_of_a_new_conversation(url: str) -> None:
    engine = create_engine(url)
    try:
        store = ConversationStore(engine, stale_after=datetime.timedelta(minutes=5))
        await store.claim("alice", "c1", "req", "hi")
        index = MessageIndex(engine)
        history = [user_message_row("hi")]
        run = ConversationRun(conversation_id="c1", owner="alice", request_id="req", outcome="interrupted")
        await store.finish("alice", "c1", "req", run, history, TurnMarks(TurnIds(user="u1"), utc_now()))
        assert [message.id for message in await index.thread("alice", "c1")] == ["u1"]
        with pytest.raises(RowNotFoundError):
            await index.thread("bob", "c1")
    finally:
        await engine.dispose()
