"""PostgreSQL row-level security, proven on its own: the code's owner filter is bypassed (raw SQL,
or a store whose filter is disabled) and the database still returns nothing of another user's.

Every statement here runs as the application role (a plain login role, not owner, not superuser,
not BYPASSRLS), the way the service connects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatgate.storage import RecordStore, TableStore, create_engine, owner_transaction, rls_bypassed
from chatgate.storage.identity import load_signer
from chatgate.storage.tables import builtin_tasks

if TYPE_CHECKING:
    from support.postgres import PostgresRun

pytestmark = pytest.mark.postgres


@pytest.fixture
async def app_engine(postgres_run: PostgresRun) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_run.app_url, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _as(connection: AsyncConnection, user: str | None) -> None:
    """Act as `user` the way the service does: a signed identity (and the legacy setting)."""
    if user is not None:
        token = (await load_signer(connection)).mint(user, ttl_seconds=60) if user else ""
        await connection.execute(
            sa.text("SELECT set_config('app.user_id', :u, true), set_config('chatgate.identity', :t, true)"),
            {"u": user, "t": token},
        )


async def _seed(engine: AsyncEngine, owner: str) -> tuple[str, str]:
    record = await RecordStore(engine, owner).create("notes", {"secret": f"{owner}'s secret"})
    task = await TableStore(engine, builtin_tasks(), owner).create({"title": f"{owner}'s task"})
    return record["id"], task["id"]


async def test_application_role_is_subject_to_rls(app_engine: AsyncEngine, postgres_run: PostgresRun) -> None:
    assert await rls_bypassed(app_engine) is False
    async with app_engine.connect() as connection:
        row = (
            await connection.execute(
                sa.text(
                    "SELECT rolsuper, rolbypassrls, "
                    "(SELECT count(*) FROM pg_tables WHERE tableowner = current_user) AS owned "
                    "FROM pg_roles WHERE rolname = current_user"
                )
            )
        ).one()
        assert tuple(row) == (False, False, 0)
        forced = (
            await connection.execute(
                sa.text(
                    "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class "
                    "WHERE relname IN ('records', 'tasks', 'audit_log')"
                )
            )
        ).all()
        assert sorted(forced) == [("audit_log", True), ("records", True), ("tasks", True)]
    admin = create_engine(postgres_run.admin_url)
    try:
        assert await rls_bypassed(admin) is True  # the superuser is exactly what the service must not use
    finally:
        await admin.dispose()


async def test_raw_sql_with_another_users_setting_sees_nothing(
    app_engine: AsyncEngine, alice: str, bob: str
) -> None:
    record_id, task_id = await _seed(app_engine, alice)
    await _seed(app_engine, bob)
    for table, key in (("records", record_id), ("tasks", task_id)):
        async with app_engine.begin() as connection:
            await _as(connection, bob)
            # No owner filter of ours anywhere in these statements: only the policy stands between.
            by_owner = await connection.execute(
                sa.text(f"SELECT * FROM {table} WHERE owner = :a"),  # noqa: S608
                {"a": alice},
            )
            assert by_owner.all() == []
            by_id = await connection.execute(sa.text(f"SELECT * FROM {table} WHERE id = :id"), {"id": key})  # noqa: S608
            assert by_id.all() == []
            owners = await connection.execute(sa.text(f"SELECT DISTINCT owner FROM {table}"))  # noqa: S608
            assert [row.owner for row in owners] == [bob]
            updated = await connection.execute(
                sa.text(f"UPDATE {table} SET owner = owner WHERE owner = :a"),  # noqa: S608
                {"a": alice},
            )
            assert updated.rowcount == 0
            deleted = await connection.execute(sa.text(f"DELETE FROM {table} WHERE owner = :a"), {"a": alice})  # noqa: S608
            assert deleted.rowcount == 0
    # Alice's rows are intact.
    assert (await RecordStore(app_engine, alice).get(record_id))["data"] == {"secret": f"{alice}'s secret"}
    assert (await TableStore(app_engine, builtin_tasks(), alice).get(task_id))["title"] == f"{alice}'s task"


@pytest.mark.parametrize("setting", [None, ""])
async def test_no_user_setting_sees_nothing(app_engine: AsyncEngine, alice: str, setting: str | None) -> None:
    await _seed(app_engine, alice)
    async with app_engine.begin() as connection:
        await _as(connection, setting)
        for table in ("records", "tasks"):
            count = (await connection.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
            assert count == 0


async def test_writes_for_another_owner_are_refused(app_engine: AsyncEngine, alice: str, bob: str) -> None:
    await _seed(app_engine, bob)
    insert = sa.text(
        "INSERT INTO records (id, owner, collection, data, created_at, updated_at) "
        "VALUES (gen_random_uuid(), :owner, 'notes', '{}', now(), now())"
    )
    with pytest.raises(DBAPIError, match="row-level security"):
        async with app_engine.begin() as connection:
            await _as(connection, bob)
            await connection.execute(insert, {"owner": alice})
    # Moving one's own row to another owner is refused by WITH CHECK as well.
    with pytest.raises(DBAPIError, match="row-level security"):
        async with app_engine.begin() as connection:
            await _as(connection, bob)
            await connection.execute(
                sa.text("UPDATE records SET owner = :a WHERE owner = :b"), {"a": alice, "b": bob}
            )


async def test_setting_does_not_outlive_its_transaction_on_a_pooled_connection(
    app_engine: AsyncEngine, alice: str
) -> None:
    await _seed(app_engine, alice)
    async with owner_transaction(app_engine, alice) as connection:
        assert (await connection.execute(sa.text("SELECT count(*) FROM records"))).scalar_one() >= 1
    # pool_size=1: this is the same physical connection, and it sees nothing without a new setting.
    async with app_engine.connect() as connection:
        setting = (await connection.execute(sa.text("SELECT current_setting('app.user_id', true)"))).scalar()
        assert setting in (None, "")
        assert (await connection.execute(sa.text("SELECT count(*) FROM records"))).scalar_one() == 0


async def test_audit_log_is_append_only_for_the_application_role(app_engine: AsyncEngine, alice: str) -> None:
    with pytest.raises(ProgrammingError, match="permission denied"):
        async with app_engine.begin() as connection:
            await _as(connection, alice)
            await connection.execute(sa.text("SELECT * FROM audit_log"))


async def test_stores_with_the_owner_filter_disabled_still_see_only_their_rows(
    app_engine: AsyncEngine, alice: str, bob: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulate a bug that drops the owner filter from every query: RLS alone must hold."""
    alice_record, alice_task = await _seed(app_engine, alice)
    bob_record, bob_task = await _seed(app_engine, bob)

    def everyone(_: Any) -> sa.ColumnElement[bool]:
        return sa.true()

    monkeypatch.setattr(RecordStore, "_mine", everyone)
    monkeypatch.setattr(TableStore, "_mine", everyone)
    records, tasks = RecordStore(app_engine, bob), TableStore(app_engine, builtin_tasks(), bob)

    listed = await records.list("notes", limit=100)
    assert {item["id"] for item in listed["items"]} == {bob_record} and listed["total"] == 1
    assert (await records.collections())["collections"] == [{"name": "notes", "count": 1}]
    assert {item["id"] for item in (await tasks.list(limit=100))["items"]} == {bob_task}
    for call in (
        records.get(alice_record),
        records.update(alice_record, {"stolen": True}),
        records.delete(alice_record),
        tasks.get(alice_task),
        tasks.update(alice_task, {"done": True}),
        tasks.delete(alice_task),
    ):
        with pytest.raises(Exception, match="not found"):
            await call
    assert (await RecordStore(app_engine, alice).get(alice_record))["data"] == {"secret": f"{alice}'s secret"}
    assert (await TableStore(app_engine, builtin_tasks(), alice).get(alice_task))["done"] is False
