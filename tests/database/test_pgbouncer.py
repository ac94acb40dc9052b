"""The isolation and row-level security suites again, through PgBouncer in transaction mode.

A transaction-mode pooler hands each transaction whatever server connection is free, and one server
connection serves many clients in turn. The per-transaction identity (`set_config(…, true)`) fits
that; session state would leak and named prepared statements would collide, which is why
`?pgbouncer=true` turns statement caching off (see `chatgate.storage.engine`).

The RLS and isolation tests, and the instance leases' takeover (plain transactions, no session
state), are imported here so they run a second time with this module's fixtures: `app_engine` and
`database_url` point through PgBouncer.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.storage import RecordStore, create_engine, owner_transaction
from database.test_instance_lease import (  # noqa: F401
    test_a_dead_instances_claim_is_taken_over_and_its_run_recorded_interrupted,
    test_concurrent_takeovers_of_one_dead_claim_let_one_through,
)
from database.test_isolation_property import test_users_only_ever_see_their_own_rows  # noqa: F401
from database.test_row_level_security import (  # noqa: F401
    test_application_role_is_subject_to_rls,
    test_audit_log_is_append_only_for_the_application_role,
    test_no_user_setting_sees_nothing,
    test_raw_sql_with_another_users_setting_sees_nothing,
    test_setting_does_not_outlive_its_transaction_on_a_pooled_connection,
    test_stores_with_the_owner_filter_disabled_still_see_only_their_rows,
    test_writes_for_another_owner_are_refused,
)
from support.pgbouncer import PgBouncer, missing_reason, pgbouncer_binary, start_pgbouncer

if TYPE_CHECKING:
    from support.postgres import PostgresRun

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pgbouncer(postgres_run: PostgresRun) -> Iterator[PgBouncer]:
    binary = pgbouncer_binary()
    if binary is None:
        reason = missing_reason()
        if os.environ.get("CHATGATE_REQUIRE_PGBOUNCER") == "1":
            pytest.fail(f"CHATGATE_REQUIRE_PGBOUNCER=1 but {reason}")
        pytest.skip(reason)
    bouncer = start_pgbouncer(
        binary, postgres_run.admin_url, postgres_run.database, ["postgres", postgres_run.app_role]
    )
    try:
        yield bouncer
    finally:
        bouncer.stop()


# What the imported tests use, through PgBouncer.


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
def database_url(pgbouncer: PgBouncer, postgres_run: PostgresRun) -> str:
    return pgbouncer.url(postgres_run.app_url)


@pytest.fixture
async def app_engine(pgbouncer: PgBouncer, postgres_run: PostgresRun) -> AsyncIterator[AsyncEngine]:
    # The `_single` pool: one server connection for the role, so "the same pooled connection" in the
    # imported tests is also the same PostgreSQL backend.
    engine = create_engine(
        pgbouncer.url(postgres_run.app_url, database=f"{postgres_run.database}_single"),
        pool_size=1,
        max_overflow=0,
    )
    try:
        yield engine
    finally:
        await engine.dispose()


# Tests of the pooler itself.


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def test_identity_does_not_leak_between_clients_sharing_a_server_connection(
    pgbouncer: PgBouncer, postgres_run: PostgresRun, alice: str
) -> None:
    url = pgbouncer.url(postgres_run.app_url, database=f"{postgres_run.database}_single")
    first, second = (
        create_engine(url, pool_size=1, max_overflow=0),
        create_engine(url, pool_size=1, max_overflow=0),
    )
    try:
        await RecordStore(first, alice).create("notes", {"n": 1})
        async with owner_transaction(first, alice) as connection:
            assert (await connection.execute(sa.text("SELECT count(*) FROM records"))).scalar_one() == 1
        # Another client, on the very same PostgreSQL backend: no identity, no rows.
        assert await _backend_pid(first) == await _backend_pid(second)
        async with second.connect() as connection:
            setting = (
                await connection.execute(sa.text("SELECT current_setting('app.user_id', true)"))
            ).scalar()
            assert setting in (None, "")
            assert (await connection.execute(sa.text("SELECT count(*) FROM records"))).scalar_one() == 0
    finally:
        await first.dispose()
        await second.dispose()


@pytest.mark.parametrize("flag", [False, True], ids=["without-flag", "with-flag"])
async def test_a_transaction_on_another_server_connection_needs_the_flag(
    pgbouncer: PgBouncer, postgres_run: PostgresRun, flag: bool
) -> None:
    """Why `?pgbouncer=true` exists: a statement prepared (and cached) in one transaction is missing
    when the client's next transaction lands on another server connection."""
    query = sa.text("SELECT pg_backend_pid(), count(*) FROM records WHERE owner = :owner")
    url = pgbouncer.url(postgres_run.app_url, pooled_flag=flag)
    client, other = (
        create_engine(url, pool_size=1, max_overflow=0),
        create_engine(url, pool_size=1, max_overflow=0),
    )
    try:
        async with client.connect() as connection:
            first_backend = (await connection.execute(query, {"owner": "x"})).one()[0]
        # The other client now holds the server connection the first one used (PgBouncer reuses the
        # most recent), so the first client's next transaction gets another one.
        async with other.begin() as held:
            assert (await held.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one() == first_backend
            async with client.connect() as connection:
                if flag:
                    second_backend = (await connection.execute(query, {"owner": "x"})).one()[0]
                    assert second_backend != first_backend
                else:
                    with pytest.raises(DBAPIError, match="prepared statement .* does not exist"):
                        await connection.execute(query, {"owner": "x"})
    finally:
        await client.dispose()
        await other.dispose()
