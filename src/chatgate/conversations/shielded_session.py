"""The Agents SDK's SQLAlchemy session memory, with each operation finished once it has begun.

The SDK reads and writes history on the request's tasks, so a client that leaves (or a deadline)
cancels whatever database call is in flight, and not always through an anyio cancel scope: the
SDK also cancels its own tasks directly (`RunResultStreaming.cancel()`), which no shield stops.
A driver call cancelled midway invalidates its connection, leaves the connection's close pending
in a task nobody awaits ("Task was destroyed but it is pending!" when it is collected) and can leave
a write half-reported. So each operation runs to its end in a task of its own; a cancelled caller
stops waiting for it, and the operation still finishes and returns its connection. Each one is
short and bounded by the database's own lock timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from agents.extensions.memory import SQLAlchemySession
from agents.items import TResponseInputItem

T = TypeVar("T")

# Strong references while they run: the event loop keeps only weak ones.
_running: set[asyncio.Task[Any]] = set()


class ShieldedSQLAlchemySession(SQLAlchemySession):
    """`SQLAlchemySession` whose operations are not interrupted by cancellation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight: set[asyncio.Task[Any]] = set()

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        return await finished(super().get_items(limit), self._in_flight)

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        await finished(super().add_items(items), self._in_flight)

    async def pop_item(self) -> TResponseInputItem | None:
        return await finished(super().pop_item(), self._in_flight)

    async def clear_session(self) -> None:
        await finished(super().clear_session(), self._in_flight)

    async def settled(self) -> None:
        """Wait until every operation begun on this session has ended, those whose callers were
        cancelled included: only then does a read see all that a cut-off run wrote."""
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))


async def finished(operation: Coroutine[Any, Any, T], tracked: set[asyncio.Task[Any]] | None = None) -> T:
    """Await `operation` in its own task: cancelling the caller does not interrupt it. The task is
    in `tracked` (when given) until it ends."""
    task = asyncio.get_running_loop().create_task(operation)
    _running.add(task)
    task.add_done_callback(_forget)
    if tracked is not None:
        tracked.add(task)
        task.add_done_callback(tracked.discard)
    return await asyncio.shield(task)


def _forget(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled():
        task.exception()  # a caller that was cancelled never reads it: do not log it as unretrieved
