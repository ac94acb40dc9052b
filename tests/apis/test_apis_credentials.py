"""Sealed per-user credentials: AES-GCM with rotation, bound to (user, API), unreadable in the database."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from apis.upstream import new_key, postgres_database
from chatgate.http_apis.credential_store import TABLE_NAME, ApiCredential, CredentialStore
from chatgate.http_apis.crypto import CredentialCipher, DecryptionError, EncryptionKeyError
from chatgate.storage import create_engine, grant_app_role, owner_transaction, upgrade_database

TOKEN = "alice-personal-token-0123456789"


def cipher(*keys: str) -> CredentialCipher:
    return CredentialCipher.from_setting(",".join(keys))


def test_seal_and_open_round_trip_with_fresh_nonces() -> None:
    box = cipher(new_key())
    first = box.seal(TOKEN, user_id="alice", api_name="crm")
    second = box.seal(TOKEN, user_id="alice", api_name="crm")
    assert first != second and TOKEN not in first
    assert first.startswith(f"v1.{box.primary_key_id}.")
    assert box.open(first, user_id="alice", api_name="crm") == TOKEN


@pytest.mark.parametrize(("user", "api"), [("bob", "crm"), ("alice", "calendar"), ("alic", "ecrm")])
def test_a_sealed_value_opens_only_for_its_user_and_api(user: str, api: str) -> None:
    box = cipher(new_key())
    sealed = box.seal(TOKEN, user_id="alice", api_name="crm")
    with pytest.raises(DecryptionError):
        box.open(sealed, user_id=user, api_name=api)


def test_tampering_and_unknown_keys_fail() -> None:
    box = cipher(new_key())
    sealed = box.seal(TOKEN, user_id="alice", api_name="crm")
    flipped = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]
    with pytest.raises(DecryptionError):
        box.open(flipped, user_id="alice", api_name="crm")
    with pytest.raises(DecryptionError):
        cipher(new_key()).open(sealed, user_id="alice", api_name="crm")
    with pytest.raises(DecryptionError):
        box.open("garbage", user_id="alice", api_name="crm")


def test_rotation_new_key_first_old_keys_still_open() -> None:
    old, new = new_key(), new_key()
    sealed_old = cipher(old).seal(TOKEN, user_id="alice", api_name="crm")
    rotated = cipher(new, old)
    assert rotated.open(sealed_old, user_id="alice", api_name="crm") == TOKEN
    assert rotated.needs_rotation(sealed_old)
    sealed_new = rotated.seal(TOKEN, user_id="alice", api_name="crm")
    assert not rotated.needs_rotation(sealed_new)
    with pytest.raises(DecryptionError):
        cipher(old).open(sealed_new, user_id="alice", api_name="crm")


@pytest.mark.parametrize("value", [None, "", "  ", "short", "not base64 !!!", "a" * 43 + "," + "b"])
def test_bad_keys_are_refused_without_echoing_them(value: str | None) -> None:
    with pytest.raises(EncryptionKeyError) as caught:
        CredentialCipher.from_setting(value)
    assert "CHATGATE_ENCRYPTION_KEY" in str(caught.value)
    if value and value.strip():
        assert value not in str(caught.value)


async def _with_table(engine: AsyncEngine) -> AsyncEngine:
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all, tables=[ApiCredential.__table__])
    return engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await _with_table(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'creds.db'}"))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(
    params=["sqlite", "sqlite-migrated", pytest.param("postgres-migrated", marks=pytest.mark.postgres)]
)
async def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The store's engine: the model's table, and the migrated schema on SQLite and PostgreSQL."""
    if request.param.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'creds.db'}"
        if request.param == "sqlite-migrated":
            await upgrade_database(url)
            engine = create_engine(url)
        else:
            engine = await _with_table(create_engine(url))
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    async with postgres_database() as url:
        await upgrade_database(url)
        engine = create_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()


async def test_store_put_list_delete_per_user(any_engine: AsyncEngine) -> None:
    store = CredentialStore(any_engine, cipher(new_key()))
    await store.put("alice", "crm", TOKEN)
    await store.put("alice", "crm", TOKEN + "-v2")  # replace
    await store.put("alice", "calendar", "cal-token")
    await store.put("bob", "calendar", "bob-cal")
    assert [c.api_name for c in await store.connected("alice")] == ["calendar", "crm"]
    assert [c.api_name for c in await store.connected("bob")] == ["calendar"]
    assert await store.open_for("alice", ("crm", "calendar", "other")) == {
        "crm": TOKEN + "-v2",
        "calendar": "cal-token",
    }
    assert await store.open_for("bob", ("crm", "calendar")) == {"calendar": "bob-cal"}
    assert await store.delete("alice", "crm") is True
    assert await store.delete("alice", "crm") is False
    assert await store.open_for("alice", ("crm",)) == {}


async def test_secrets_are_not_readable_in_the_database(engine: AsyncEngine, tmp_path: Path) -> None:
    store = CredentialStore(engine, cipher(new_key()))
    await store.put("alice", "crm", TOKEN)
    await engine.dispose()
    raw = (tmp_path / "creds.db").read_bytes()
    for sidecar in tmp_path.glob("creds.db-*"):  # noqa: ASYNC240 - a test reading its own files
        raw += sidecar.read_bytes()
    assert TOKEN.encode() not in raw
    with sqlite3.connect(tmp_path / "creds.db") as connection:
        rows = connection.execute(f"SELECT * FROM {TABLE_NAME}").fetchall()  # noqa: S608 - constant name
    assert rows and not any(TOKEN in str(value) for row in rows for value in row)


async def test_a_row_copied_to_another_user_does_not_open(engine: AsyncEngine, tmp_path: Path) -> None:
    store = CredentialStore(engine, cipher(new_key()))
    await store.put("alice", "crm", TOKEN)
    await engine.dispose()
    with sqlite3.connect(tmp_path / "creds.db") as connection:
        connection.execute(
            f"INSERT INTO {TABLE_NAME} (owner, api_name, sealed, key_id, created_at, updated_at) "  # noqa: S608
            f"SELECT 'mallory', api_name, sealed, key_id, created_at, updated_at FROM {TABLE_NAME}"
        )
    assert [c.api_name for c in await store.connected("mallory")] == ["crm"]
    assert await store.open_for("mallory", ("crm",)) == {}
    assert await store.open_for("alice", ("crm",)) == {"crm": TOKEN}


async def test_credentials_under_an_old_key_are_resealed_on_use(engine: AsyncEngine, tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    await CredentialStore(engine, cipher(old)).put("alice", "crm", TOKEN)
    rotated = cipher(new, old)
    store = CredentialStore(engine, rotated)
    assert await store.open_for("alice", ("crm",)) == {"crm": TOKEN}
    # Now sealed under the new key alone: the old key is no longer needed.
    assert await CredentialStore(engine, cipher(new)).open_for("alice", ("crm",)) == {"crm": TOKEN}


@pytest.mark.postgres
async def test_row_level_security_hides_other_owners_rows_on_postgres() -> None:
    """As the application role, a query without any owner filter still sees only the bound owner."""
    async with postgres_database() as url:
        await upgrade_database(url)
        role = f"chatgate_apis_app_{os.urandom(4).hex()}"
        admin = create_engine(url)
        try:
            async with admin.begin() as connection:
                await connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            await grant_app_role(url, role)
            store = CredentialStore(admin, cipher(new_key()))
            await store.put("alice", "crm", TOKEN)
            await store.put("bob", "crm", "bob-token")
            app = create_engine(make_url(url).set(username=role).render_as_string(hide_password=False))
            try:
                async with owner_transaction(app, "bob") as connection:
                    owners = (
                        (await connection.execute(text("SELECT owner FROM api_credentials"))).scalars().all()
                    )
                async with owner_transaction(app, "bob", write=True) as connection:
                    deleted = await connection.execute(text("DELETE FROM api_credentials"))
            finally:
                await app.dispose()
            assert owners == ["bob"]
            assert deleted.rowcount == 1
            assert await store.open_for("alice", ("crm",)) == {"crm": TOKEN}
        finally:
            async with admin.begin() as connection:
                await connection.execute(text(f'DROP OWNED BY "{role}"'))
                await connection.execute(text(f'DROP ROLE "{role}"'))
            await admin.dispose()
