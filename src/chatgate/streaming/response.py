"""An ASGI response that streams one agent run as Server-Sent Events, and stops it on disconnect.

The run produces chunks while `SseResponse` writes them (keep-alive comments while a tool is slow)
and watches for the client leaving; then the run is cancelled, and the launcher's shielded teardown
still reaps the tool server. Every chunk sent is also published to the run's `RunPublisher` (when
given), so other requests can resume the answer; a run cut off (the client left) ends there with an
`abort` chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from starlette.types import Receive, Scope, Send

from chatgate.errors import ChatgateError, InternalError
from chatgate.streaming.run_buffer import RunPublisher
from chatgate.streaming.sse_response import SseResponse
from chatgate.streaming.ui_message_stream import DONE_LINE, Chunk, UiMessageStreamEncoder, sse

logger = logging.getLogger(__name__)

Emit = Callable[[Chunk], Awaitable[None]]
StreamRun = Callable[[UiMessageStreamEncoder, Emit], Awaitable[None]]
OpenPublisher = Callable[[], Awaitable[RunPublisher]]
INTERNAL_ERROR_TEXT = InternalError.default_message


class UiMessageStreamResponse(SseResponse):
    """Streams `run(encoder, emit)` as the AI SDK UI message stream."""

    def __init__(
        self,
        run: StreamRun,
        *,
        keepalive_seconds: float = 15.0,
        message_id: str | None = None,
        on_not_run: Callable[[], Awaitable[None]] | None = None,
        open_publisher: OpenPublisher | None = None,
        encoder: UiMessageStreamEncoder | None = None,
    ) -> None:
        super().__init__(keepalive_seconds=keepalive_seconds)
        self._run = run
        self._encoder = encoder or UiMessageStreamEncoder(message_id)
        # Called (shielded) when the client left before `run` was even entered: whatever was
        # prepared for the run (a claimed conversation) must still be released.
        self._on_not_run = on_not_run
        self._open_publisher = open_publisher
        self._run_entered = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._run_entered and self._on_not_run is not None:
                with anyio.CancelScope(shield=True):
                    await self._on_not_run()

    async def _produce(self, lines: MemoryObjectSendStream[str]) -> None:
        started = self._encoder.start()
        for chunk in started:
            lines.send_nowait(sse(chunk))  # the buffer is empty: no checkpoint before the run is entered
        publisher: RunPublisher | None = None
        ended = False
        try:
            if self._open_publisher is not None:
                # Shielded: a publisher half opened would offer readers a run that never ends.
                with anyio.CancelScope(shield=True):
                    publisher = await self._open_publisher()
                    for chunk in started:
                        await publisher.publish(chunk)

            async def emit(chunk: Chunk) -> None:
                if publisher is not None:
                    await publisher.publish(chunk)
                await lines.send(sse(chunk))

            async with anyio.create_task_group() as beside:
                if publisher is not None:
                    beside.start_soon(publisher.pump)
                ended = await self._run_and_end(emit)
                beside.cancel_scope.cancel()
            await lines.send(DONE_LINE)
        finally:
            if publisher is not None:
                with anyio.CancelScope(shield=True):
                    if not ended:  # cut off: readers see what was open closed, then `abort`
                        for chunk in self._encoder.abort():
                            await publisher.publish(chunk)
                    await publisher.finish()

    async def _run_and_end(self, emit: Emit) -> bool:
        """Run, then emit the terminal chunks (`finish`, or `error`); True once they are out."""
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
        return True
