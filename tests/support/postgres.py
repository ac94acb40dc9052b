"""Where the PostgreSQL tests find a server: `CHATGATE_TEST_POSTGRES_URL`, else this machine's default."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class PostgresRun:
    """The database suite's PostgreSQL run (`tests/database/conftest.py` `postgres_run`)."""

    admin_url: str  # superuser, on this run's database: migrations, fixtures, cleanup
    app_url: str  # the application role: what the tools connect as
    app_role: str
    database: str


@dataclass(frozen=True)
class ContainedPostgres:
    """The containment suite's PostgreSQL run (`tests/sandbox/conftest.py` `contained_postgres`)."""

    admin_url: str  # superuser on this run's database
    app_url: str  # the service's role
    tools_url: str  # the tool servers' own role
    tools_role: str


def postgres_admin_url() -> str:
    return os.environ.get("CHATGATE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


async def execute(url: str, *statements: str) -> None:
    """Run `statements` in order on one connection to `url` (a SQLAlchemy URL, any driver)."""
    import asyncpg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """An empty database of its own (dropped after), as a URL for the admin role; skips the test when
    no PostgreSQL is reachable unless `CHATGATE_REQUIRE_POSTGRES=1`."""
    base = postgres_admin_url()
    try:
        asyncio.run(execute(base, "SELECT 1"))
    except Exception as exc:
        reason = f"PostgreSQL not reachable: {type(exc).__name__}: {exc}"
        if os.environ.get("CHATGATE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CHATGATE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    name = f"chatgate_fresh_{uuid.uuid4().hex[:12]}"
    asyncio.run(execute(base, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
