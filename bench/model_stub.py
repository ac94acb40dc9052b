"""A scripted OpenAI-compatible model for the per-chat benchmark: `python -m bench.model_stub --port P`.

It runs in its own process, so its CPU is in no measured tree, and answers Chat Completions
(`POST /v1/chat/completions`, streamed or not) in well under a millisecond of its own work:

- a request whose messages hold a tool result gets the final text answer;
- a request whose last user message asks "who am I" and that offers a `whoami` tool gets a call to it;
- any other request gets a text answer at once (the chat that calls no tool: one model call).

Two things keep it from measuring itself instead of the client:

- **TCP_NODELAY** on every accepted connection. A keep-alive client (httpx in the OpenAI SDK) that
  talks to a server writing a response in two sends otherwise waits ~40 ms per call on delayed ACK.
  asyncio and uvloop set it already; it is set here explicitly so the bench does not depend on that.
- **Usage only when asked**: a streamed answer carries a usage chunk only with
  `stream_options.include_usage`, as OpenAI, vLLM, LiteLLM and Ollama do (a non-streamed answer
  always carries usage, as theirs do).

`GET /stats` returns `{"requests": n, "request_bytes": n, "waiting": n, "most_waiting": n}`: the driver
reports what a chat sends, and (`--latency-ms`) how many answers are being thought about right now and
at most so far (the many-waiting-chats bench, `bench.waiting`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TOOL_NAME = "whoami"
TOOL_QUESTION = "who am i"
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


class NoDelayHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with Nagle's algorithm off on every accepted connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def reply_for(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(text, tool name to call) for one request: exactly one of them is set."""
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    if any(m.get("role") == "tool" for m in messages):
        return "Done: that is who you are.", None
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    content = last_user.get("content")
    text = content if isinstance(content, str) else json.dumps(content)
    offered = {t.get("function", {}).get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    if TOOL_QUESTION in text.lower() and TOOL_NAME in offered:
        return None, TOOL_NAME
    return "Hello! How can I help?", None


class ModelStub:
    """The stub's state: counters, and the simulated think time per answer."""

    def __init__(self, latency_seconds: float = 0.0) -> None:
        self.latency_seconds = latency_seconds
        self.requests = 0
        self.request_bytes = 0
        self.waiting = 0
        self.most_waiting = 0
        self._ids = 0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/stats", self._stats, methods=["GET"]),
            ]
        )

    def _next_id(self) -> str:
        self._ids += 1
        return f"{self._ids:08x}"

    async def _stats(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "requests": self.requests,
                "request_bytes": self.request_bytes,
                "waiting": self.waiting,
                "most_waiting": self.most_waiting,
            }
        )

    async def _completions(self, request: Request) -> Response:
        raw = await request.body()
        self.requests += 1
        self.request_bytes += len(raw)
        body = json.loads(raw)
        if self.latency_seconds:
            self.waiting += 1
            self.most_waiting = max(self.most_waiting, self.waiting)
            try:
                await asyncio.sleep(self.latency_seconds)
            finally:
                self.waiting -= 1
        text, tool = reply_for(body)
        model = str(body.get("model", "scripted"))
        call_id = f"call_{self._next_id()}"
        if body.get("stream"):
            options = body.get("stream_options") or {}
            usage = bool(options.get("include_usage"))
            return StreamingResponse(
                _stream(text, tool, call_id, model, usage), media_type="text/event-stream"
            )
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if tool:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": tool, "arguments": "{}"}}
            ]
        return JSONResponse(
            {
                "id": f"chatcmpl-{call_id}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}
                ],
                "usage": USAGE,
            }
        )


async def _stream(
    text: str | None, tool: str | None, call_id: str, model: str, usage: bool
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        payload = {
            "id": f"chatcmpl-{call_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    if text:
        yield chunk({"content": text})
    if tool:
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": tool, "arguments": "{}"},
                    }
                ]
            }
        )
    yield chunk({}, finish="tool_calls" if tool else "stop")
    if usage:
        payload = {
            "id": f"chatcmpl-{call_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [],
            "usage": USAGE,
        }
        yield f"data: {json.dumps(payload)}\n\n"
    yield "data: [DONE]\n\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.model_stub", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="simulated think time per answer")
    args = parser.parse_args()
    stub = ModelStub(args.latency_ms / 1000)
    uvicorn.run(
        stub.app,
        host="127.0.0.1",
        port=args.port,
        http=NoDelayHttpTools,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
