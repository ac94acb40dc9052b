"""`chatgate serve`: uvicorn, with a graceful drain on SIGTERM and SIGINT.

uvicorn alone stops listening at once on SIGTERM, so a load balancer that has not yet noticed sees
refused connections, and after its shutdown it re-raises the signal, so the process ends "killed by
SIGTERM" instead of exiting 0. Here the first signal starts `Drain.run` while the listener stays
open (`/readyz` 503, new chats 503 `draining`, chats in flight finish within
`SHUTDOWN_GRACE_SECONDS`, then the rest are cancelled); only then does uvicorn shut down: it closes
the listener, waits for the last responses, and runs the app's shutdown, which stops every tool
server. A second signal skips the rest of the grace (cancels the chats now); a third forces exit.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

from chatgate.drain import Drain

logger = logging.getLogger(__name__)

# After the drain: the longest uvicorn waits for other requests still being answered.
AFTER_DRAIN_SECONDS = 10


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain: Drain, grace_seconds: float) -> None:
        super().__init__(config)
        self._drain = drain
        self._grace_seconds = grace_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._signals = 0

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Called from the signal handler, on the loop's thread but between any two bytecodes: only
        # schedule work here. Not recorded in `_captured_signals`, so the process exits 0 afterwards.
        self._signals += 1
        if self._loop is None or self._signals >= 3:
            self.should_exit = True
            self.force_exit = self._signals >= 3
            return
        if self._signals == 1:
            self._loop.call_soon_threadsafe(self._start_drain)
        else:
            self._loop.call_soon_threadsafe(self._drain.cancel_all)

    def _start_drain(self) -> None:
        if self._drain_task is None:
            self._drain_task = asyncio.get_running_loop().create_task(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        try:
            await self._drain.run(self._grace_seconds)
        finally:
            self.should_exit = True


def serve(app: FastAPI, drain: Drain, *, host: str, port: int, grace_seconds: float) -> None:
    """Run `app` until a signal has drained it."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=AFTER_DRAIN_SECONDS,
    )
    DrainingServer(config, drain, grace_seconds).run()
