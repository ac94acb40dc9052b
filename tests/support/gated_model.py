"""An OpenAI-compatible Chat Completions server whose answers wait for the test to release them.

For tests that need chats provably in flight at a moment of their choosing (drain, limits, soak):
`entered` counts requests that arrived, `release()` lets every waiting and future one answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


class GatedOpenAI:
    def __init__(self, text: str = "released answer") -> None:
        self.text = text
        self.gate = threading.Event()
        self._lock = threading.Lock()
        self._entered = 0
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])

    @property
    def entered(self) -> int:
        with self._lock:
            return self._entered

    def release(self) -> None:
        self.gate.set()

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self._entered += 1
        # A threading.Event, set from the test's thread: polled, since it cannot be awaited.
        while not self.gate.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        model = str(body.get("model", "gated"))
        if body.get("stream"):
            usage = USAGE if (body.get("stream_options") or {}).get("include_usage") else None
            return StreamingResponse(self._stream(model, usage), media_type="text/event-stream")
        message = {"role": "assistant", "content": self.text}
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": USAGE,
            }
        )

    async def _stream(self, model: str, usage: dict[str, int] | None) -> Any:
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        yield chunk({"content": self.text})
        yield chunk({}, finish="stop")
        if usage is not None:
            payload = {"id": completion_id, "object": "chat.completion.chunk", "created": 0, "model": model}
            yield f"data: {json.dumps({**payload, 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"
