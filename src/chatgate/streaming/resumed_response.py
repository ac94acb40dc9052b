"""`GET /api/agents/chat/{id}/stream`'s answer: a run's chunks replayed and followed to its end.

The same UI message stream as the run's own response (same chunks, same message id, `data: [DONE]`
at the end). A reader leaving only stops its own reading: the run and other readers go on.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from chatgate.streaming.run_buffer import Chunk
from chatgate.streaming.sse_response import SseResponse
from chatgate.streaming.ui_message_stream import DONE_LINE, sse


class ResumedStreamResponse(SseResponse):
    def __init__(self, chunks: AsyncGenerator[Chunk, None], *, keepalive_seconds: float = 15.0) -> None:
        super().__init__(keepalive_seconds=keepalive_seconds)
        self._chunks = chunks

    async def _produce(self, lines: MemoryObjectSendStream[str]) -> None:
        try:
            async for chunk in self._chunks:
                await lines.send(sse(chunk))
            await lines.send(DONE_LINE)
        finally:
            # Closed here, not whenever the garbage collector gets to it: a Redis read in flight
            # gives its connection back now.
            with anyio.CancelScope(shield=True):
                await self._chunks.aclose()
