"""Per-user limits kept in this process: right for one instance, per instance for several."""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable

from chatgate.limits import WINDOW_SECONDS, Permit, concurrency_refusal, per_minute_refusal

# Past this many tracked users, idle ones are swept (bounded memory whatever the traffic).
SWEEP_ABOVE_USERS = 10_000


class InProcessRateLimiter:
    """A sliding one-minute window of chat starts and a count of running chats, per user."""

    def __init__(
        self, *, per_minute: int, concurrent: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._per_minute = per_minute
        self._concurrent = concurrent
        self._clock = clock
        self._starts: dict[str, deque[float]] = {}
        self._running: dict[str, set[str]] = {}

    async def acquire(self, key: str) -> Permit:
        now = self._clock()
        starts = self._starts.setdefault(key, deque())
        while starts and starts[0] <= now - WINDOW_SECONDS:
            starts.popleft()
        running = self._running.setdefault(key, set())
        if self._per_minute and len(starts) >= self._per_minute:
            raise per_minute_refusal(self._per_minute, starts[0] + WINDOW_SECONDS - now)
        if self._concurrent and len(running) >= self._concurrent:
            raise concurrency_refusal(self._concurrent)
        token = uuid.uuid4().hex
        starts.append(now)
        running.add(token)
        if len(self._starts) > SWEEP_ABOVE_USERS:
            self._sweep(now)
        return Permit(key=key, token=token)

    async def release(self, permit: Permit) -> None:
        running = self._running.get(permit.key)
        if running is not None:
            running.discard(permit.token)

    async def aclose(self) -> None:
        self._starts.clear()
        self._running.clear()

    def _sweep(self, now: float) -> None:
        for key in list(self._starts):
            starts = self._starts[key]
            if (not starts or starts[-1] <= now - WINDOW_SECONDS) and not self._running.get(key):
                del self._starts[key]
                self._running.pop(key, None)
