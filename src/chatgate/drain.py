"""Graceful drain: stop taking chats, let the running ones finish, cancel what is left.

On SIGTERM (`chatgate serve`, see `chatgate.serving`) the instance starts draining: `/readyz`
answers 503 (the load balancer stops sending traffic), new chats get 503 `draining` with
`Retry-After`, and chats in flight, streams included, run on for up to `SHUTDOWN_GRACE_SECONDS`.
Chats still running then are cancelled: the chat service records them as interrupted and the
launcher tears their tool servers down. Only then does the server stop and the app shut down.

Each admitted chat is tracked with a cancel scope of its own, so the drain cancels chats and
nothing else (not the server, not other requests).
"""

from __future__ import annotations

import asyncio
import logging

import anyio

from chatgate.errors import DrainingError

logger = logging.getLogger(__name__)

# After the cancellation: how long the cancelled chats get to record their runs and tear down.
CANCEL_SETTLE_SECONDS = 10.0
RETRY_AFTER_SECONDS = 2


class TrackedChat:
    """One admitted chat: run it inside `scope`; the drain cancels that scope past the grace."""

    def __init__(self, drain: Drain) -> None:
        self._drain = drain
        self.scope = anyio.CancelScope()
        self.cancelled_by_drain = False

    def cancel(self) -> None:
        self.cancelled_by_drain = True
        self.scope.cancel()

    def done(self) -> None:
        self._drain.forget(self)


class Drain:
    """This instance's chats in flight and whether it is draining."""

    def __init__(self) -> None:
        self.draining = False
        self._chats: set[TrackedChat] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return len(self._chats)

    def track(self) -> TrackedChat:
        """Register a new chat.

        Raises:
            DrainingError: the instance is draining (503 with Retry-After: another instance answers).
        """
        if self.draining:
            raise DrainingError(retry_after_seconds=RETRY_AFTER_SECONDS)
        chat = TrackedChat(self)
        self._chats.add(chat)
        self._idle.clear()
        return chat

    def forget(self, chat: TrackedChat) -> None:
        self._chats.discard(chat)
        if not self._chats:
            self._idle.set()

    def begin(self) -> None:
        """Refuse new chats from now on (idempotent)."""
        if not self.draining:
            self.draining = True
            logger.info("draining: %d chat(s) in flight", len(self._chats))

    async def wait_idle(self, timeout_seconds: float) -> bool:
        """Wait until no chat is in flight; False if some still are after `timeout_seconds`."""
        with anyio.move_on_after(timeout_seconds):
            await self._idle.wait()
        return not self._chats

    def cancel_all(self) -> int:
        """Cancel every chat in flight; returns how many."""
        chats = list(self._chats)
        for chat in chats:
            chat.cancel()
        return len(chats)

    async def run(self, grace_seconds: float) -> None:
        """The whole drain: refuse new chats, wait up to the grace, cancel the rest, let them settle."""
        self.begin()
        if await self.wait_idle(grace_seconds):
            logger.info("drained: every chat finished")
            return
        cancelled = self.cancel_all()
        logger.warning("drain grace of %.0fs over: cancelled %d chat(s)", grace_seconds, cancelled)
        if not await self.wait_idle(CANCEL_SETTLE_SECONDS):
            logger.error("%d cancelled chat(s) still unwinding at shutdown", self.in_flight)
