"""`chatgate serve`: uvicorn, with a graceful drain on SIGTERM and SIGINT.

uvicorn alone stops listening at once on SIGTERM, so a load balancer that has not yet noticed sees
refused connections, and after its shutdown it re-raises the signal, so the process ends "killed by
SIGTERM" instead of exiting 0. Here the first signal starts `Drain.run` while the listener stays
open (`/readyz` 503, new chats 503 `draining`, chats in flight finish within
`SHUTDOWN_GRACE_SECONDS`, then the rest are cancelled); only then does uvicorn shut down: it closes
the listener, waits for the last responses, and runs the app's shutdown, which stops every tool
server. A second signal skips the rest of the grace (cancels the chats now); a third forces exit.

Request heads (the request line and headers) are bounded too (`MAX_HEAD_BYTES`, `BoundedHeadProtocol`):
the HTTP parser keeps a head in memory until it ends, however long that is, and bodies are bounded by
the app only once a head has arrived.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from chatgate.drain import Drain

logger = logging.getLogger(__name__)

# After the drain: the longest uvicorn waits for other requests still being answered.
AFTER_DRAIN_SECONDS = 10
# Longest request line plus headers: four times a 16 KiB token, twice what nginx accepts by default.
MAX_HEAD_BYTES = 64 * 1024


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering `413 request_too_large` (and closing) once a request's
    head passes `MAX_HEAD_BYTES` without ending: without this, a 50 MB header is read into memory."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_bytes = 0
        self._in_head = True

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)  # may include the start of a body: checked after parsing
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._refuse_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # the next request on this connection starts with its head

    def _refuse_head(self) -> None:
        message = f"The request line and headers exceed {MAX_HEAD_BYTES} bytes."
        body = json.dumps({"error": {"code": "request_too_large", "message": message}}).encode()
        head = (
            "HTTP/1.1 413 Content Too Large\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()


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
        http=BoundedHeadProtocol,
    )
    DrainingServer(config, drain, grace_seconds).run()
