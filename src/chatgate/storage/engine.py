"""Async engines and owner-scoped transactions.

`DATABASE_URL` picks the backend: `sqlite+aiosqlite:///path` (the embedded default) or
`postgresql+asyncpg://…`. Plain `sqlite:///` and `postgresql://` URLs are accepted and mapped onto
those async drivers, since nothing here can use a blocking driver.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from chatgate.storage.errors import DatabaseUnavailableError, InvalidInputError, StorageError

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000
# Execution option marking a transaction that will write: SQLite then takes the write lock up front.
_WRITE_OPTION = "chatgate_write"
_SET_OWNER = text("SELECT set_config('app.user_id', :owner, true)")


class DatabaseConfigError(ValueError):
    """`DATABASE_URL` names a backend this service does not support."""


def normalize_url(url: str) -> URL:
    """The URL with its async driver made explicit.

    Raises:
        DatabaseConfigError: unparseable, or neither SQLite nor PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseConfigError("DATABASE_URL is not a valid database URL") from exc
    backend = parsed.get_backend_name()
    if backend in {"postgres", "postgresql"}:
        return parsed.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise DatabaseConfigError(f"DATABASE_URL must be sqlite or postgresql, not {backend!r}")


# `DATABASE_URL=postgresql://…@pgbouncer:6432/db?pgbouncer=true`: the URL itself says it, so the tool
# servers, which receive the same URL, connect the same way (the name is the one Prisma uses).
TRANSACTION_POOLER_PARAMETER = "pgbouncer"
# A tool server serves one chat: one connection normally, a couple more for parallel tool calls.
TOOL_SERVER_POOL_SIZE = 1
TOOL_SERVER_MAX_OVERFLOW = 2


def transaction_pooled(url: URL) -> bool:
    """True when `url` says it goes through a transaction-mode pooler: `?pgbouncer=true` (PgBouncer,
    Supavisor, pgcat in transaction mode)."""
    value = url.query.get(TRANSACTION_POOLER_PARAMETER)
    if isinstance(value, tuple):
        value = value[-1] if value else None
    return isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}


def transaction_pooler_options(url: URL) -> tuple[URL, dict[str, Any]]:
    """`url` without the `pgbouncer` flag, and the driver arguments the flag asks for (none without it).

    Behind a transaction pooler consecutive transactions may run on different server connections,
    and one server connection serves many clients: a named prepared statement would be missing on
    the next, or collide with another process's (asyncpg numbers them per process). No statement
    cache on either layer makes asyncpg use the unnamed statement, which lives only until the next
    one, inside the transaction that prepared it.
    """
    if not transaction_pooled(url):
        return url, {}
    stripped = url.difference_update_query([TRANSACTION_POOLER_PARAMETER])
    return stripped, {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def create_engine(
    url: str, *, pool_size: int | None = None, max_overflow: int | None = None, **kwargs: Any
) -> AsyncEngine:
    """An async engine for `url`; connects lazily, so creating one costs no I/O.

    On SQLite every connection gets WAL, foreign keys and a busy timeout, and transactions are
    begun explicitly (`BEGIN`, or `BEGIN IMMEDIATE` for writes) because the stdlib driver's own
    transaction handling defers BEGIN and deadlocks read-then-write transactions under WAL.

    On PostgreSQL `pool_size` and `max_overflow` bound the connections this engine holds (SQLite
    ignores them), and `?pgbouncer=true` in the URL (see `transaction_pooled`) turns off what a
    transaction-mode pooler cannot carry between transactions: prepared statements.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        # Convenience for the embedded default; if it fails, connecting fails later with a curated error.
        with contextlib.suppress(OSError):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "postgresql":
        if pool_size is not None and "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", pool_size)
        if max_overflow is not None and "poolclass" not in kwargs:
            kwargs.setdefault("max_overflow", max_overflow)
        parsed, pooler_args = transaction_pooler_options(parsed)
        if pooler_args:
            kwargs["connect_args"] = {**kwargs.get("connect_args", {}), **pooler_args}
    engine = create_async_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def preload_drivers() -> None:
    """Import both dialects and drivers now (say, in a fork launcher's template) so no request pays for it."""
    for module in (
        "aiosqlite",
        "asyncpg",
        "sqlalchemy.dialects.sqlite.aiosqlite",
        "sqlalchemy.dialects.postgresql.asyncpg",
    ):
        importlib.import_module(module)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see create_engine)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@asynccontextmanager
async def owner_transaction(
    engine: AsyncEngine, owner: str, *, write: bool = False
) -> AsyncIterator[AsyncConnection]:
    """One transaction acting for `owner`: committed on success, rolled back on any error.

    On PostgreSQL the owner is set as the transaction-local `app.user_id` (a bind parameter, never
    interpolated) so the row-level security policies hold even if a query forgot its owner filter.
    Session-level settings would leak to the next user of a pooled connection; `is_local=true` cannot.

    Raises:
        DatabaseUnavailableError: the database failed (driver text is logged, not raised).
    """
    if not owner:
        raise InvalidInputError("no owner bound")
    async with translate_errors():
        connection = await engine.connect()
        try:
            if write:
                connection = await connection.execution_options(**{_WRITE_OPTION: True})
            async with connection.begin():
                if is_postgres(engine):
                    await connection.execute(_SET_OWNER, {"owner": owner})
                yield connection
        finally:
            await connection.close()


@asynccontextmanager
async def translate_errors() -> AsyncIterator[None]:
    """Turn driver and SQLAlchemy failures into `DatabaseUnavailableError` (details only in the log)."""
    try:
        yield
    except StorageError:
        raise
    except (SQLAlchemyError, OSError) as exc:
        logger.warning(
            "database operation failed: %s", type(exc).__name__, exc_info=logger.isEnabledFor(logging.DEBUG)
        )
        raise DatabaseUnavailableError() from exc
    except Exception as exc:
        # asyncpg raises its own PostgresError tree outside SQLAlchemy when used directly.
        if type(exc).__module__.startswith(("asyncpg", "aiosqlite", "sqlite3")):
            logger.warning("database operation failed: %s", type(exc).__name__)
            raise DatabaseUnavailableError() from exc
        raise
