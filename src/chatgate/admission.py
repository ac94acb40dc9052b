"""Bounded concurrency of live tool servers (`MAX_CONCURRENT_SESSIONS`).

A request waits briefly for a slot (`ADMISSION_WAIT_SECONDS`); past that it is refused with 503 and
`Retry-After` rather than queued without bound: an overloaded service should say so quickly.

Built on `anyio.Semaphore`, whose `acquire` gives a slot back when its waiter is cancelled at the
moment it was granted: a request cancelled anywhere (waiting, holding, leaving) never keeps a slot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from chatgate.errors import SaturatedError


class Admission:
    """A counting gate with a bounded wait."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit = limit
        self._wait_seconds = wait_seconds
        self._slots = anyio.Semaphore(limit)
        self._in_use = 0

    @property
    def in_use(self) -> int:
        """Slots held right now (0 when every request has left, however it left)."""
        return self._in_use

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block.

        Raises:
            SaturatedError: no slot freed up within the wait.
        """
        try:
            self._slots.acquire_nowait()  # a free slot: taken at once, whatever the wait setting
        except anyio.WouldBlock:
            if self._wait_seconds <= 0:
                raise SaturatedError(retry_after_seconds=1) from None
            acquired = False
            with anyio.move_on_after(self._wait_seconds):
                await self._slots.acquire()
                acquired = True
            if not acquired:
                raise SaturatedError(retry_after_seconds=max(1, round(self._wait_seconds))) from None
        # No await between taking the slot and this `try`.
        self._in_use += 1
        try:
            yield
        finally:
            self._in_use -= 1
            self._slots.release()
