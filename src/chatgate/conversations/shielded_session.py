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

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        return await finished(super().get_items(limit))

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        await asyncio.shield(self.start_adding(items))

    def start_adding(self, items: list[TResponseInputItem]) -> asyncio.Task[None]:
        """Begin `add_items` in a task of its own and return it: awaiting the task later tells
        whether the items were stored, even after the caller that asked was cancelled."""
        return started(super().add_items(items))

    async def pop_item(self) -> TResponseInputItem | None:
        return await finished(super().pop_item())

    async def clear_session(self) -> None:
        await finished(super().clear_session())


async def finished(operation: Coroutine[Any, Any, T]) -> T:
    """Await `operation` in its own task: cancelling the caller does not interrupt it."""
    return await asyncio.shield(started(operation))


def started(operation: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """`operation` running in a task of its own, kept alive until it ends."""
    task = asyncio.get_running_loop().create_task(operation)
    _running.add(task)
    task.add_done_callback(_forget)
    return task


def _forget(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled():
        task.exception()  # a caller that was cancelled never reads it: do not log it as unretrieved
