"""A scripted OpenAI-compatible server (Chat Completions, streaming and not) for the real client path.

The script is a function of the request's messages, so concurrent requests from different users are
answered independently. Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class WireReply:
    """One assistant turn: text, tool calls, or an HTTP failure."""

    text: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    delay_seconds: float = 0.0


WireScript = Callable[[list[dict[str, Any]]], WireReply]


def last_tool_result(messages: list[dict[str, Any]]) -> str | None:
    """The content of the last `tool` message, as text (arrays of text parts are joined)."""
    for message in reversed(messages):
        if message.get("role") == "tool":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content)
    return None


def call_tool_then_echo(name: str, arguments: dict[str, Any] | None = None) -> WireScript:
    """Call `name` once, then answer with the tool's output verbatim."""

    def script(messages: list[dict[str, Any]]) -> WireReply:
        result = last_tool_result(messages)
        if result is None:
            return WireReply(tool_calls=[(name, arguments or {})])
        return WireReply(text=result)

    return script


class ScriptedOpenAI:
    """The server's state: the current script and the requests received."""

    def __init__(self) -> None:
        self.script: WireScript = lambda _messages: WireReply(text="hello")
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.base_url = ""
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        reply = self.script(list(body.get("messages", [])))
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        if reply.status != 200:
            return JSONResponse(
                {"error": {"message": "scripted failure", "type": "server_error"}}, status_code=reply.status
            )
        model = str(body.get("model", "scripted"))
        if body.get("stream"):
            return StreamingResponse(_stream(reply, model), media_type="text/event-stream")
        return JSONResponse(_completion(reply, model))


def _tool_call_payload(index: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"call_{index}_{uuid.uuid4().hex[:8]}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def _completion(reply: WireReply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [_tool_call_payload(i, n, a) for i, (n, a) in enumerate(reply.tool_calls)]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


async def _stream(reply: WireReply, model: str) -> Any:
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> str:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else [],
        }
        if usage is not None:
            payload["usage"] = usage
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    if reply.text:
        for start in range(0, len(reply.text), 4):
            yield chunk({"content": reply.text[start : start + 4]})
    for index, (name, arguments) in enumerate(reply.tool_calls):
        call = _tool_call_payload(index, name, arguments)
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
        yield chunk(
            {"tool_calls": [{"index": index, "function": {"arguments": call["function"]["arguments"]}}]}
        )
    yield chunk({}, finish="tool_calls" if reply.tool_calls else "stop")
    yield chunk({}, usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18})
    yield "data: [DONE]\n\n"
