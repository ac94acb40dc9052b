"""Counters of the API process's database work, for the profile (`bench.serve --counters`).

Installed into the service under test only when asked, and read at `GET /bench/counters`:

- SQL statements by their first keyword (SELECT, INSERT, UPDATE, DELETE, …) and transactions
  committed, from SQLAlchemy's engine events;
- thread hops: every call aiosqlite hands to its connection's worker thread (one statement's
  execute, a fetch, a commit, a rollback on pool check-in) is a round trip from the event loop to
  that thread and back, counted at `aiosqlite.core.Connection._execute`, the one place they pass.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

import aiosqlite.core
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class DatabaseCounters:
    """Counts for one engine; `snapshot()` is what the route returns."""

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()
        self.texts: Counter[str] = Counter()
        self.commits = 0
        self.thread_hops = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "statements": dict(self.statements),
            "statement_texts": dict(self.texts),
            "commits": self.commits,
            "aiosqlite_thread_hops": self.thread_hops,
        }

    def install(self, app: FastAPI, engine: AsyncEngine) -> None:
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _statement(*args: Any) -> None:
            statement = " ".join(str(args[2]).split())
            self.statements[statement.split(None, 1)[0].upper() if statement else "?"] += 1
            self.texts[statement[:100]] += 1

        @event.listens_for(engine.sync_engine, "commit")
        def _commit(*_args: Any) -> None:
            self.commits += 1

        original: Any = aiosqlite.core.Connection._execute

        @functools.wraps(original)
        async def counted(connection: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.thread_hops += 1
            return await original(connection, fn, *args, **kwargs)

        setattr(aiosqlite.core.Connection, "_execute", counted)  # noqa: B010 - patching a private method

        async def read() -> dict[str, Any]:
            return self.snapshot()

        app.add_api_route("/bench/counters", read, methods=["GET"])
