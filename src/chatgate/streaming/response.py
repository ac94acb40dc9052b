"""An ASGI response that streams one agent run as Server-Sent Events, and stops it on disconnect.

Three tasks in one task group, in the request's own task: the run (producing chunks), the sender
(writing them, with keep-alive comments while a tool is slow), and a watcher for `http.disconnect`.
When the client goes away the group is cancelled; the launcher's shielded teardown still reaps the
tool server. No async generator holds a cancel scope across a `yield`, so cancellation is exact.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chatgate.errors import ChatgateError, InternalError
from chatgate.streaming.ui_message_stream import (
    DONE_LINE,
    KEEPALIVE_LINE,
    SSE_HEADERS,
    Chunk,
    UiMessageStreamEncoder,
    sse,
)

logger = logging.getLogger(__name__)

Emit = Callable[[Chunk], Awaitable[None]]
StreamRun = Callable[[UiMessageStreamEncoder, Emit], Awaitable[None]]
INTERNAL_ERROR_TEXT = InternalError.default_message


class UiMessageStreamResponse(Response):
    """Streams `run(encoder, emit)` as the AI SDK UI message stream."""

    media_type = "text/event-stream"

    def __init__(
        self,
        run: StreamRun,
        *,
        keepalive_seconds: float = 15.0,
        message_id: str | None = None,
        on_not_run: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        # Not Response.__init__: it would add a Content-Length for an empty body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
        self.raw_headers += [(name.encode(), value.encode()) for name, value in SSE_HEADERS.items()]
        self._run = run
        self._keepalive_seconds = keepalive_seconds
        self._encoder = UiMessageStreamEncoder(message_id)
        # Called (shielded) when the client left before `run` was even entered: whatever was
        # prepared for the run (a claimed conversation) must still be released.
        self._on_not_run = on_not_run
        self._run_entered = False
        self.disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            await self._serve(receive, send)
        finally:
            if not self._run_entered and self._on_not_run is not None:
                with anyio.CancelScope(shield=True):
                    await self._on_not_run()

    async def _serve(self, receive: Receive, send: Send) -> None:
        sender, lines = anyio.create_memory_object_stream[str](max_buffer_size=256)
        async with anyio.create_task_group() as group:

            async def produce() -> None:
                async with sender:
                    await self._produce(sender)

            async def watch() -> None:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        self.disconnected = True
                        group.cancel_scope.cancel()
                        return

            group.start_soon(produce)
            group.start_soon(watch)
            await self._write(lines, send)
            group.cancel_scope.cancel()  # the run is over: stop watching for a disconnect

    async def _produce(self, lines: MemoryObjectSendStream[str]) -> None:
        async def emit(chunk: Chunk) -> None:
            await lines.send(sse(chunk))

        for chunk in self._encoder.start():
            lines.send_nowait(sse(chunk))  # the buffer is empty: no checkpoint before the run is entered
        try:
            self._run_entered = True
            await self._run(self._encoder, emit)
        except ChatgateError as exc:
            chunks = self._encoder.error(exc.message)
        except Exception as exc:
            logger.error("streamed run failed: %s", type(exc).__name__)
            chunks = self._encoder.error(INTERNAL_ERROR_TEXT)
        else:
            chunks = self._encoder.finish()
        for chunk in chunks:
            await emit(chunk)
        await lines.send(DONE_LINE)

    async def _write(self, lines: MemoryObjectReceiveStream[str], send: Send) -> None:
        async with lines:
            while True:
                with anyio.move_on_after(self._keepalive_seconds) as waited:
                    try:
                        line = await lines.receive()
                    except anyio.EndOfStream:
                        break
                if waited.cancelled_caught:
                    line = KEEPALIVE_LINE
                await send({"type": "http.response.body", "body": line.encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
