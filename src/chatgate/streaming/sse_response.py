"""An ASGI response that streams Server-Sent Events from a producer, with keep-alives, and stops the
producer when the client goes away.

Three tasks in one task group, in the request's own task: the producer (`_produce`, writing lines to
a memory stream), the writer (sending them, with keep-alive comments while nothing comes), and a
watcher for `http.disconnect`. When the client goes away the group is cancelled. No async generator
holds a cancel scope across a `yield`, so cancellation is exact.
"""

from __future__ import annotations

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chatgate.streaming.ui_message_stream import KEEPALIVE_LINE, SSE_HEADERS


class SseResponse(Response):
    """Streams the lines `_produce` sends (each a whole event) until it returns."""

    media_type = "text/event-stream"

    def __init__(self, *, keepalive_seconds: float = 15.0) -> None:
        # Not Response.__init__: it would add a Content-Length for an empty body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
        self.raw_headers += [(name.encode(), value.encode()) for name, value in SSE_HEADERS.items()]
        self._keepalive_seconds = keepalive_seconds
        self.disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await self._serve(receive, send)

    async def _produce(self, lines: MemoryObjectSendStream[str]) -> None:
        raise NotImplementedError

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
            group.cancel_scope.cancel()  # the stream is over: stop watching for a disconnect

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
