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

import anyio
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from chatgate.storage.errors import DatabaseUnavailableError, InvalidInputError, StorageError
from chatgate.storage.identity import (
    PRESENTED_IDENTITY_OPTION,
    IdentityError,
    PresentedIdentity,
    transaction_token,
    transaction_token_sync,
)

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000
# Execution option marking a transaction that will write: SQLite then takes the write lock up front.
_WRITE_OPTION = "chatgate_write"
# `chatgate.identity` is what chatgate's policies verify; `app.user_id` is kept for operators' tables
# whose policies predate verified identities (README: Database).
_SET_OWNER = text(
    "SELECT set_config('app.user_id', :owner, true), set_config('chatgate.identity', :identity, true)"
)


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
    url: str,
    *,
    identity_token: str | None = None,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    pool_timeout: float | None = None,
    sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    **kwargs: Any,
) -> AsyncEngine:
    """An async engine for `url`; connects lazily, so creating one costs no I/O.

    On SQLite every connection gets WAL, foreign keys and a busy timeout, and transactions are
    begun explicitly (`BEGIN`, or `BEGIN IMMEDIATE` for writes) because the stdlib driver's own
    transaction handling defers BEGIN and deadlocks read-then-write transactions under WAL.

    On PostgreSQL `pool_size` and `max_overflow` bound the connections this engine holds (SQLite
    ignores them), and `?pgbouncer=true` in the URL (see `transaction_pooled`) turns off what a
    transaction-mode pooler cannot carry between transactions: prepared statements. `pool_timeout`
    (seconds to wait for a free connection) applies to both, except to SQLite in memory.
    `sqlite_busy_timeout_ms` is how long a SQLite connection waits for another one's write lock.

    `identity_token` (a tool server's, minted by the service for its bound user) is what its
    transactions present to PostgreSQL's row-level security; without one the engine mints its own
    per transaction, which needs a role that may read the identity key (`chatgate.storage.identity`).

    Raises:
        DatabaseConfigError: the URL is unusable.
        IdentityError: `identity_token` is malformed.
    """
    if identity_token is not None:
        presented = PresentedIdentity.parse(identity_token)
        options = dict(kwargs.pop("execution_options", None) or {})
        options[PRESENTED_IDENTITY_OPTION] = presented
        kwargs["execution_options"] = options
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        # Convenience for the embedded default; if it fails, connecting fails later with a curated error.
        with contextlib.suppress(OSError):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    in_memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
    if pool_timeout is not None and not in_memory and "poolclass" not in kwargs:
        kwargs.setdefault("pool_timeout", pool_timeout)
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
        _configure_sqlite(engine, sqlite_busy_timeout_ms)
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


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see create_engine)
        cursor = dbapi_connection.cursor()
        # First: switching to WAL needs the lock another connection's write (a migration) may hold.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
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

    On PostgreSQL the owner's signed identity is set as the transaction-local `chatgate.identity` (a
    bind parameter, never interpolated) so the row-level security policies hold even if a query
    forgot its owner filter (`chatgate.storage.identity`). Session-level settings would leak to the
    next user of a pooled connection; `is_local=true` cannot.

    The transaction is shielded from cancellation: once begun, it commits or rolls back and its
    connection goes back to the pool before a cancellation takes effect. Cancelling a driver call
    midway would invalidate the connection, leave its close pending in a task nobody awaits ("Task
    was destroyed but it is pending!") and, after a commit, report a write as not done.

    Raises:
        DatabaseUnavailableError: the database failed (driver text is logged, not raised).
    """
    if not owner:
        raise InvalidInputError("no owner bound")
    with anyio.CancelScope(shield=True):
        async with _transaction(engine, owner, write=write) as connection:
            yield connection


@asynccontextmanager
async def _transaction(engine: AsyncEngine, owner: str, *, write: bool) -> AsyncIterator[AsyncConnection]:
    async with translate_errors():
        connection = await engine.connect()
        try:
            if write:
                connection = await connection.execution_options(**{_WRITE_OPTION: True})
            async with connection.begin():
                if is_postgres(engine):
                    try:
                        identity = await transaction_token(connection, owner)
                    except IdentityError as exc:
                        raise InvalidInputError(str(exc)) from None
                    await connection.execute(_SET_OWNER, {"owner": owner, "identity": identity})
                yield connection
        finally:
            await _release(connection)


async def _release(connection: AsyncConnection) -> None:
    """Return the connection to the pool. After a commit this is bookkeeping: a failure here must not
    report a committed write as failed (the caller would repeat it), so it is logged, not raised."""
    try:
        await connection.close()
    except Exception as exc:
        logger.warning("returning a database connection failed: %s", type(exc).__name__)


def present_owner(connection: Connection, owner: str) -> None:
    """On a synchronous connection inside a transaction, act for `owner` as `owner_transaction` does.

    For transactions SQLAlchemy sessions begin (the Agents SDK's history store), from an
    `after_begin` event. A no-op except on PostgreSQL.

    Raises:
        IdentityError: the engine holds a tool server's identity for someone else.
    """
    if connection.dialect.name == "postgresql":
        identity = transaction_token_sync(connection, owner)
        connection.execute(_SET_OWNER, {"owner": owner, "identity": identity})


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
