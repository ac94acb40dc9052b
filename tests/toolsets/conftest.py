"""Fixtures of the toolset suite: the database backends of `tests/database`, and the operator
project under `project/` (a table, a service layer and a toolset) with its table created."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from apis.conftest import hits, upstream  # noqa: F401 - fixtures, re-exported for this suite
from chatgate.storage import create_engine
from database.conftest import (  # noqa: F401 - fixtures, re-exported for this suite
    PostgresRun,
    admin_url,
    alice,
    backend,
    bob,
    database_url,
    postgres_run,
    sqlite_template,
)
from toolsets.project_config import NOTES_TABLE


@pytest.fixture
def postgres_or_none(backend: str, request: pytest.FixtureRequest) -> PostgresRun | None:
    return request.getfixturevalue("postgres_run") if backend == "postgres" else None


@pytest.fixture
async def notes_table(admin_url: str, postgres_or_none: PostgresRun | None) -> None:
    """The operator creates their table, and on PostgreSQL its policy and grants, as the README says."""
    await create_notes_table(admin_url, postgres_or_none.app_role if postgres_or_none else None)


async def create_notes_table(admin_url: str, app_role: str | None) -> None:
    engine = create_engine(admin_url)
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
