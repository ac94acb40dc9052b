"""Fixtures of the database suite: every backend-parametrized test runs on SQLite, and on PostgreSQL
when one is reachable (`CHATGATE_TEST_POSTGRES_URL`; `CHATGATE_REQUIRE_POSTGRES=1` turns "unreachable"
into a failure instead of a skip).

PostgreSQL runs get their own database and their own application role (a plain login role: not
owner, not superuser, not BYPASSRLS), both named uniquely per test session so parallel runs never
collide, and both dropped at the end. The schema is migrated once, as the admin; tests connect as
the application role, so row-level security is in force for every PostgreSQL test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.mcp_server.context import ToolResources
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings
from chatgate.storage import create_engine, upgrade_database
from support.live_app import LiveApp, start_live_app
from support.postgres import PostgresRun, execute, postgres_admin_url

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_run() -> Iterator[PostgresRun]:
    base = postgres_admin_url()
    try:
        asyncio.run(execute(base, "SELECT 1"))
    except Exception as exc:
        reason = (
            f"PostgreSQL not reachable at {make_url(base).render_as_string()}: {type(exc).__name__}: {exc}"
        )
        if os.environ.get("CHATGATE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CHATGATE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    suffix = uuid.uuid4().hex[:12]
    database, role = f"chatgate_test_{suffix}", f"chatgate_app_{suffix}"
    asyncio.run(
        execute(
            base,
            f'CREATE DATABASE "{database}"',
            f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT',
        )
    )
    parsed = make_url(base)
    admin_url = parsed.set(database=database).render_as_string(hide_password=False)
    app_url = parsed.set(database=database, username=role, password=None).render_as_string(
        hide_password=False
    )
    try:
        from chatgate.storage import grant_app_role

        asyncio.run(upgrade_database(admin_url))
        asyncio.run(grant_app_role(admin_url, role))
        yield PostgresRun(admin_url=admin_url, app_url=app_url, app_role=role, database=database)
    finally:
        asyncio.run(
            execute(
                base, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{role}"'
            )
        )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied per test (migrating per test would cost ~0.3 s each)."""
    path = tmp_path_factory.mktemp("template") / "chatgate.db"
    asyncio.run(upgrade_database(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database for this test, as the application would connect to it."""
    if backend == "postgres":
        run: PostgresRun = request.getfixturevalue("postgres_run")
        return run.app_url
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "chatgate.db"
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def thread_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, launcher_name: str
) -> Iterator[LiveApp]:
    """A live app per module, launcher and backend, for tests of conversation threads."""
    state = tmp_path_factory.mktemp("threads")
    env: dict[str, Any] = {"MCP_LAUNCHER": launcher_name}
    if request.param == "postgres":
        run: PostgresRun = request.getfixturevalue("postgres_run")
        env["DATABASE_URL"] = run.app_url
    else:
        database = state / "chatgate.db"
        asyncio.run(upgrade_database(f"sqlite+aiosqlite:///{database}"))
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    server, live = start_live_app(state, **env)
    with server:
        yield live


def new_user(label: str = "user") -> str:
    """A user id no other test uses (PostgreSQL tests share one database per run)."""
    return f"{label}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def alice() -> str:
    return new_user("alice")


@pytest.fixture
def bob() -> str:
    return new_user("bob")


def _tool_context(engine: AsyncEngine, user_id: str, *, request_id: str = "req-test") -> Any:
    settings = ChildSettings(identity=BoundIdentity(user_id=user_id), request_id=request_id)
    resources = ToolResources(settings=settings, database=engine)
    return SimpleNamespace(request_context=SimpleNamespace(lifespan_context=resources))


@pytest.fixture
def tool_context() -> Any:
    """`tool_context(engine, user_id, request_id=…)`: the slice of an MCP `Context` the tools read,
    for calling tool functions directly."""
    return _tool_context


@pytest.fixture
def admin_url(backend: str, database_url: str, request: pytest.FixtureRequest) -> str:
    """A URL that sees every row (the PostgreSQL admin; SQLite has no roles)."""
    if backend == "postgres":
        run: PostgresRun = request.getfixturevalue("postgres_run")
        return run.admin_url
    return database_url
