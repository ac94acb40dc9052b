"""Bounded concurrency of live tool servers (`MAX_CONCURRENT_SESSIONS`).

A request waits briefly for a slot (`ADMISSION_WAIT_SECONDS`); past that it is refused with 503 and
`Retry-After` rather than queued without bound: an overloaded service should say so quickly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chatgate.errors import SaturatedError


class Admission:
    """A counting gate with a bounded wait."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit = limit
        self._wait_seconds = wait_seconds
        self._slots = asyncio.Semaphore(limit)
        self._in_use = 0

    @property
    def in_use(self) -> int:
        return self._in_use

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block.

        Raises:
            SaturatedError: no slot freed up within the wait.
        """
        if not self._slots.locked():
            await self._slots.acquire()  # a free slot: taken at once, whatever the wait setting
        elif self._wait_seconds <= 0:
            raise SaturatedError(retry_after_seconds=1)
        else:
            try:
                await asyncio.wait_for(self._slots.acquire(), timeout=self._wait_seconds)
            except TimeoutError:
                raise SaturatedError(retry_after_seconds=max(1, round(self._wait_seconds))) from None
        self._in_use += 1
        try:
            yield
        finally:
            self._in_use -= 1
            self._slots.release()
