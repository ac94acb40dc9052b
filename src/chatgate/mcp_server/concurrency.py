"""How many tool calls one tool server runs at once, and a clean refusal past that.

A model may ask for a dozen or two tool calls in one turn, and the SDK sends them all at once. Each
in-flight database or file call may hold a thread (a driver connection, a blocking file write), and
under the fork launcher's address-space limit every thread costs address space: unbounded, ~16 of
them ended in `RuntimeError: can't start new thread` and `MemoryError` in the middle of writes.
So a server runs at most `MAX_RUNNING_CALLS` calls at a time; the next `MAX_WAITING_CALLS` wait
their turn (the client's per-call timeout still bounds the wait), and any further call is refused
at once with a `ToolError` the model can act on. Thread or memory exhaustion that happens anyway
(a tool's own burst) is reported the same way instead of as an unexplained failure; nothing was
done by such a call, since it failed to start its work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp.server.mcpserver.exceptions import ToolError

MAX_RUNNING_CALLS = 8
MAX_WAITING_CALLS = 56
BUSY_MESSAGE = (
    "the tool server is busy: too many tool calls at once. Nothing was done for this call; "
    "call fewer tools at a time, or call this one again after the others have answered"
)


class CallGate:
    """At most `running` calls at once, `waiting` more queued, the rest refused (`ToolError`)."""

    def __init__(self, running: int = MAX_RUNNING_CALLS, waiting: int = MAX_WAITING_CALLS) -> None:
        self._slots = anyio.Semaphore(running)
        self._max_waiting = waiting
        self._waiting = 0

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold one running slot for the block.

        Raises:
            mcp.server.mcpserver.exceptions.ToolError: `BUSY_MESSAGE`, when the queue is full already.
        """
        try:
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            if self._waiting >= self._max_waiting:
                raise ToolError(BUSY_MESSAGE) from None
            self._waiting += 1
            try:
                await self._slots.acquire()  # cancellation-safe: a granted slot is given back
            finally:
                self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()


def is_exhaustion(error: BaseException) -> bool:
    """True for the failures of a process out of threads or address space."""
    while error is not None:
        if isinstance(error, MemoryError):
            return True
        if isinstance(error, RuntimeError) and "can't start new thread" in str(error):
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False
