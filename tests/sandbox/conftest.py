"""Fixtures of the containment suite: a PostgreSQL database with separate service and tools roles.

Like `tests/database`, each run gets its own database and roles, named uniquely and dropped at the
end; unreachable PostgreSQL skips (or fails, with `CHATGATE_REQUIRE_POSTGRES=1`).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from chatgate.storage import grant_app_role, grant_tools_role, upgrade_database
from support.postgres import ContainedPostgres, execute, postgres_admin_url


@pytest.fixture(scope="session")
def contained_postgres() -> Iterator[ContainedPostgres]:
    base = postgres_admin_url()
    try:
        asyncio.run(execute(base, "SELECT 1"))
    except Exception as exc:
        reason = f"PostgreSQL not reachable: {type(exc).__name__}"
        if os.environ.get("CHATGATE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CHATGATE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    suffix = uuid.uuid4().hex[:12]
    database, app, tools = f"chatgate_sbx_{suffix}", f"chatgate_app_{suffix}", f"chatgate_tools_{suffix}"
    roles = "LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT"
    asyncio.run(
        execute(
            base,
            f'CREATE DATABASE "{database}"',
            f'CREATE ROLE "{app}" {roles}',
            f'CREATE ROLE "{tools}" {roles}',
        )
    )
    parsed = make_url(base)
    admin_url = parsed.set(database=database).render_as_string(hide_password=False)
    app_url = parsed.set(database=database, username=app, password=None).render_as_string(hide_password=False)
    tools_url = parsed.set(database=database, username=tools, password=None).render_as_string(
        hide_password=False
    )
    try:
        asyncio.run(upgrade_database(admin_url))
        asyncio.run(grant_app_role(admin_url, app))
        asyncio.run(grant_tools_role(admin_url, tools))
        yield ContainedPostgres(admin_url=admin_url, app_url=app_url, tools_url=tools_url, tools_role=tools)
    finally:
        asyncio.run(
            execute(
                base,
                f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
                f'DROP ROLE IF EXISTS "{app}"',
                f'DROP ROLE IF EXISTS "{tools}"',
            )
        )
