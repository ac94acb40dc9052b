"""A scripted OpenAI-compatible server (Chat Completions, streaming and not) for the real client path.

The script is a function of the request's messages, so concurrent requests from different users are
answered independently. Every request is recorded for assertions.

Like real servers (OpenAI, vLLM, Ollama, LiteLLM), a streamed answer carries token usage only when
the request asks for it with `stream_options.include_usage`; a JSON answer always carries it. Like
strict ones (OpenAI, Anthropic behind LiteLLM), it refuses with 400 a request whose history is not
well-formed (`history_problem`). Replies can reproduce the quirks of providers seen in the wild
(`WireToolCall`, `WireReply` fields).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


@dataclass
class WireToolCall:
    """One tool call exactly as a provider sends it, quirks included."""

    name: str
    # A value is sent as JSON text (`json.dumps`, so a lone surrogate in it arrives escaped inside that
    # text); a `str` is sent as the arguments text itself.
    arguments: Any = field(default_factory=dict)
    # "" gives a fresh unique id; None sends no `id` at all; any other text is sent as is (reuse).
    id: str | None = ""
    # Send `function.arguments` as a JSON object (llama.cpp, some LiteLLM routes), not as JSON text.
    arguments_as_object: bool = False


@dataclass
class WireReply:
    """One assistant turn: text, tool calls, or an HTTP failure."""

    text: str | None = None
    tool_calls: Sequence[tuple[str, dict[str, Any]] | WireToolCall] = field(default_factory=list)
    status: int = 200
    delay_seconds: float = 0.0
    # Extra fields of the assistant message (a reasoning model's `reasoning_content`, say); streamed
    # as a delta of their own before the text.
    extra: dict[str, Any] = field(default_factory=dict)
    # None: "tool_calls" when there are tool calls, else "stop". Some servers say "stop" on a tool call.
    finish_reason: str | None = None
    # Streamed tool-call deltas without `index` (seen from some OpenAI-compatible servers).
    stream_index: bool = True
    # A slow answer: streamed up to `hold_after_chars` of its text, then held until the event is set
    # (a JSON answer is held whole). The server counts the requests it holds (`ScriptedOpenAI.held`).
    hold: threading.Event | None = None
    hold_after_chars: int = 0


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


def tool_results_since_last_user(messages: list[dict[str, Any]]) -> list[str]:
    """The contents of the `tool` messages after the last user message, as text, in order."""
    results: list[str] = []
    for message in messages:
        if message.get("role") == "user":
            results = []
        elif message.get("role") == "tool":
            content = message.get("content")
            if isinstance(content, list):
                results.append("".join(p.get("text", "") for p in content if isinstance(p, dict)))
            else:
                results.append(str(content))
    return results


def call_tool_then_echo(name: str, arguments: dict[str, Any] | None = None) -> WireScript:
    """Call `name` once, then answer with the tool's output verbatim."""

    def script(messages: list[dict[str, Any]]) -> WireReply:
        result = last_tool_result(messages)
        if result is None:
            return WireReply(tool_calls=[(name, arguments or {})])
        return WireReply(text=result)

    return script


def history_problem(messages: list[dict[str, Any]]) -> str | None:
    """Why a strict Chat Completions server would refuse `messages`, or None.

    Tool-call ids unique in the conversation, each a non-empty string; arguments JSON text; every call
    answered by one `tool` message right after its assistant message, and no other `tool` message;
    no lone surrogate anywhere (a UTF-8 decoder cannot take one).
    """
    seen: set[str] = set()
    unanswered: list[str] = []
    for message in messages:
        if _has_surrogate(message):
            return "invalid unicode in a message"
        if message.get("role") == "tool":
            if message.get("tool_call_id") not in unanswered:
                return f"tool message for unknown or answered call {message.get('tool_call_id')!r}"
            unanswered.remove(message["tool_call_id"])
            continue
        if unanswered:
            return f"tool calls {unanswered} have no tool message"
        for call in message.get("tool_calls") or []:
            call_id, arguments = call.get("id"), call.get("function", {}).get("arguments")
            if not isinstance(call_id, str) or not call_id:
                return "a tool call has no id"
            if call_id in seen:
                return f"duplicate tool call id {call_id!r}"
            if not isinstance(arguments, str):
                return "tool call arguments must be a string"
            seen.add(call_id)
            unanswered.append(call_id)
    return None


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, dict):
        return any(_has_surrogate(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_surrogate(item) for item in value)
    return False


class ScriptedOpenAI:
    """The server's state: the current script and the requests received."""

    def __init__(self) -> None:
        self.script: WireScript = lambda _messages: WireReply(text="hello")
        self.refusals: list[str] = []  # why requests were refused as malformed (`history_problem`)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.held = 0  # answers that reached their `hold` (and waited there)
        self.base_url = ""
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        problem = history_problem(list(body.get("messages", [])))
        if problem is not None:
            self.refusals.append(problem)
            error = {"message": problem, "type": "invalid_request_error"}
            return JSONResponse({"error": error}, status_code=400)
        reply = self.script(list(body.get("messages", [])))
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        if reply.status != 200:
            return JSONResponse(
                {"error": {"message": "scripted failure", "type": "server_error"}}, status_code=reply.status
            )
        model = str(body.get("model", "scripted"))
        if body.get("stream"):
            options = body.get("stream_options") or {}
            usage = USAGE if options.get("include_usage") is True else None
            return StreamingResponse(_stream(reply, model, usage, self._hold), media_type="text/event-stream")
        await self._hold(reply)
        # ASCII-escaped like many Python servers, so a reply can carry a lone surrogate (`\ud83d`).
        return Response(json.dumps(_completion(reply, model)), media_type="application/json")

    async def _hold(self, reply: WireReply) -> None:
        if reply.hold is not None:
            self.held += 1
            # A threading.Event set by the test's thread: polled, since it cannot be awaited.
            while not reply.hold.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.02)


def _calls(reply: WireReply) -> list[WireToolCall]:
    return [
        call if isinstance(call, WireToolCall) else WireToolCall(name=call[0], arguments=call[1])
        for call in reply.tool_calls
    ]


def _tool_call_payload(index: int, call: WireToolCall) -> dict[str, Any]:
    if call.arguments_as_object or isinstance(call.arguments, str):
        arguments = call.arguments
    else:
        arguments = json.dumps(call.arguments)
    payload: dict[str, Any] = {"type": "function", "function": {"name": call.name, "arguments": arguments}}
    if call.id is not None:
        payload["id"] = call.id or f"call_{index}_{uuid.uuid4().hex[:8]}"
    return payload


def _finish_reason(reply: WireReply) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


def _completion(reply: WireReply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, **reply.extra}
    if reply.tool_calls:
        message["tool_calls"] = [_tool_call_payload(i, call) for i, call in enumerate(_calls(reply))]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(reply)}],
        "usage": USAGE,
    }


async def _stream(
    reply: WireReply, model: str, usage: dict[str, int] | None, hold: Callable[[WireReply], Any]
) -> Any:
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
    if reply.extra:
        yield chunk(dict(reply.extra))
    text = reply.text or ""
    if reply.hold is not None:
        yield chunk({"content": text[: reply.hold_after_chars]})
        await hold(reply)
        text = text[reply.hold_after_chars :]
    for start in range(0, len(text), 4):
        yield chunk({"content": text[start : start + 4]})
    for index, call in enumerate(_calls(reply)):
        payload = _tool_call_payload(index, call)
        opening = {key: value for key, value in payload.items() if key != "function"}
        opening["function"] = {"name": call.name, "arguments": ""}
        rest: dict[str, Any] = {"function": {"arguments": payload["function"]["arguments"]}}
        if reply.stream_index:
            opening["index"] = rest["index"] = index
        yield chunk({"tool_calls": [opening]})
        yield chunk({"tool_calls": [rest]})
    yield chunk({}, finish=_finish_reason(reply))
    if usage is not None:
        yield chunk({}, usage=usage)
    yield "data: [DONE]\n\n"
