"""Fixtures of the toolset suite: the database backends of `tests/database`, and the operator
project under `project/` (a table, a service layer and a toolset) with its table created."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from apis import conftest as api_fixtures
from chatgate.storage import create_engine
from database import conftest as database_fixtures
from support.postgres import PostgresRun
from toolsets.project_config import NOTES_TABLE

# The database suite's backends (SQLite, and PostgreSQL as the application role) and its upstream API.
postgres_run = database_fixtures.postgres_run
sqlite_template = database_fixtures.sqlite_template
backend = database_fixtures.backend
database_url = database_fixtures.database_url
admin_url = database_fixtures.admin_url
alice = database_fixtures.alice
bob = database_fixtures.bob
upstream = api_fixtures.upstream
hits = api_fixtures.hits


@pytest.fixture
def postgres_or_none(backend: str, request: pytest.FixtureRequest) -> PostgresRun | None:
    return request.getfixturevalue("postgres_run") if backend == "postgres" else None


@pytest.fixture
async def notes_table(admin_url: str, postgres_or_none: PostgresRun | None) -> None:
    """The operator creates their table, and on PostgreSQL its policy and grants, as the README says."""
    await create_notes_table(admin_url, postgres_or_none.app_role if postgres_or_none else None)


async def create_notes_table(url: str, app_role: str | None) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    f"CREATE TABLE IF NOT EXISTS {NOTES_TABLE} (id VARCHAR(32) PRIMARY KEY, "
                    "owner VARCHAR(1024) NOT NULL, text VARCHAR(500) NOT NULL)"
                )
            )
            if app_role is not None:
                for statement in (
                    f"ALTER TABLE {NOTES_TABLE} ENABLE ROW LEVEL SECURITY",
                    f"ALTER TABLE {NOTES_TABLE} FORCE ROW LEVEL SECURITY",
                    f"DROP POLICY IF EXISTS notes_owner ON {NOTES_TABLE}",
                    f"CREATE POLICY notes_owner ON {NOTES_TABLE} "
                    "USING (owner = current_setting('app.user_id', true)) "
                    "WITH CHECK (owner = current_setting('app.user_id', true))",
                    f'GRANT SELECT, INSERT, UPDATE, DELETE ON {NOTES_TABLE} TO "{app_role}"',
                ):
                    await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()
