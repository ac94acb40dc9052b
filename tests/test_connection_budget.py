"""The service's database connections are bounded by settings, and `?pgbouncer=true` configures the
driver for a transaction-mode pooler (no connection needed to check either)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from chatgate.storage.engine import (
    TOOL_SERVER_MAX_OVERFLOW,
    TOOL_SERVER_POOL_SIZE,
    create_engine,
    transaction_pooler_options,
)


async def test_pool_sizes_bound_postgres_connections() -> None:
    engine = create_engine("postgresql://app@db.invalid/chatgate", pool_size=7, max_overflow=3)
    try:
        assert engine.pool.size() == 7  # type: ignore[attr-defined]
        assert engine.pool._max_overflow == 3  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
    assert (TOOL_SERVER_POOL_SIZE, TOOL_SERVER_MAX_OVERFLOW) == (1, 2)


async def test_sqlite_ignores_pool_sizes(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", pool_size=7, max_overflow=3)
    await engine.dispose()


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_pgbouncer_flag_turns_statement_caches_off(value: str) -> None:
    url = make_url(f"postgresql+asyncpg://app@db.invalid:6432/chatgate?pgbouncer={value}&application_name=x")
    stripped, arguments = transaction_pooler_options(url)
    assert "pgbouncer" not in stripped.query  # never sent to the server as a parameter
    assert stripped.query["application_name"] == "x"
    assert arguments == {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


def test_without_the_flag_nothing_changes() -> None:
    url = make_url("postgresql+asyncpg://app@db.invalid/chatgate?pgbouncer=false")
    assert transaction_pooler_options(url)[1] == {}


async def test_the_flag_reaches_the_engine() -> None:
    engine = create_engine("postgresql://app@db.invalid:6432/chatgate?pgbouncer=true")
    try:
        assert "pgbouncer" not in engine.url.query
    finally:
        await engine.dispose()
