"""PostgreSQL verifies who a transaction acts for; the tools role reaches only the tool tables."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.storage import RecordStore, create_engine, grant_tools_role
from chatgate.storage.identity import IdentitySigner, load_signer
from support.postgres import ContainedPostgres, execute

pytestmark = pytest.mark.postgres


@pytest.fixture
async def app_engine(contained_postgres: ContainedPostgres) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(contained_postgres.app_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def verified(engine: AsyncEngine, token: str) -> str | None:
    async with engine.begin() as connection:
        await connection.execute(sa.text("SELECT set_config('chatgate.identity', :t, true)"), {"t": token})
        value = await connection.scalar(sa.text("SELECT chatgate_verified_user()"))
    return None if value is None else str(value)


async def signer_of(engine: AsyncEngine) -> IdentitySigner:
    async with engine.connect() as connection:
        return await load_signer(connection)


async def test_the_database_verifies_what_the_service_signs(app_engine: AsyncEngine) -> None:
    signer = await signer_of(app_engine)
    token = signer.mint("alice.o'brien.v1", ttl_seconds=60)  # dots and quotes in ids are fine
    assert await verified(app_engine, token) == "alice.o'brien.v1" == signer.verify(token)
    version, expires, signature, _user = token.split(".", 3)
    forgeries = {
        "another user, same signature": f"{version}.{expires}.{signature}.bob",
        "a later expiry, same signature": f"{version}.{int(expires) + 3600}.{signature}.alice.o'brien.v1",
        "a wrong key": IdentitySigner(b"k" * 32).mint("alice", ttl_seconds=60),
        "expired": signer.mint("alice", ttl_seconds=-1),
        "garbage": "v1.1.2.3",
        "empty": "",
    }
    for name, forged in forgeries.items():
        assert await verified(app_engine, forged) is None, name
        assert signer.verify(forged) is None, name


async def test_app_user_id_by_hand_opens_nothing(app_engine: AsyncEngine) -> None:
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    await RecordStore(app_engine, alice).create("notes", {"secret": 1})
    async with app_engine.begin() as connection:
        await connection.execute(sa.text("SELECT set_config('app.user_id', :u, true)"), {"u": alice})
        assert await connection.scalar(sa.text("SELECT count(*) FROM records")) == 0
    assert (await RecordStore(app_engine, alice).list("notes"))["total"] == 1


async def test_the_tools_role_reaches_only_the_tool_tables(
    app_engine: AsyncEngine, contained_postgres: ContainedPostgres
) -> None:
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    token = (await signer_of(app_engine)).mint(alice, ttl_seconds=60)
    tools = create_engine(contained_postgres.tools_url, identity_token=token)
    try:
        created = await RecordStore(tools, alice).create("notes", {"from": "a tool"})  # with its identity
        assert (await RecordStore(app_engine, alice).get(created["id"]))["data"] == {"from": "a tool"}
        with pytest.raises(Exception, match="no database identity for that owner"):
            await RecordStore(tools, "bob").list("notes")  # it cannot even ask for someone else
        for table in (
            "chatgate_identity_key",
            "conversations",
            "agent_messages",
            "agent_sessions",
            "api_credentials",
        ):
            with pytest.raises(DBAPIError, match="permission denied"):
                async with tools.connect() as connection:
                    await connection.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1"))  # noqa: S608
    finally:
        await tools.dispose()
    untrusted = create_engine(contained_postgres.tools_url)  # no identity: it cannot mint one either
    try:
        with pytest.raises(Exception, match="database could not complete"):
            await RecordStore(untrusted, alice).list("notes")
    finally:
        await untrusted.dispose()


async def test_grant_tools_role_refuses_a_role_that_reaches_more(
    contained_postgres: ContainedPostgres,
) -> None:
    member = f"chatgate_member_{uuid.uuid4().hex[:8]}"
    app_role = str(sa.engine.make_url(contained_postgres.app_url).username)
    await execute(
        contained_postgres.admin_url,
        f'CREATE ROLE "{member}" LOGIN NOBYPASSRLS INHERIT',
        f'GRANT "{app_role}" TO "{member}"',
    )
    try:
        with pytest.raises(ValueError, match="can still reach .*chatgate_identity_key"):
            await grant_tools_role(contained_postgres.admin_url, member)
    finally:
        await execute(contained_postgres.admin_url, f'DROP OWNED BY "{member}"', f'DROP ROLE "{member}"')


def test_grant_tools_role_command(contained_postgres: ContainedPostgres) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatgate.storage.cli",
            "db",
            "grant-tools-role",
            contained_postgres.tools_role,
        ]
        + ["--url", contained_postgres.admin_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "records, tasks, audit_log" in done.stdout
    refused = subprocess.run(
        [sys.executable, "-m", "chatgate.storage.cli", "db", "grant-tools-role", "postgres"]
        + ["--url", contained_postgres.admin_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1 and "superuser" in refused.stderr
