"""A scripted OpenAI-compatible model: Chat Completions, streamed or not, answering from a script.

The app under test talks to it through the real OpenAI client (`OPENAI_BASE_URL`), so what the model
receives — instructions, history, tool schemas — is what a real model would. A script is a function of
the request, so concurrent chats of different users are answered independently:

    scripted_model.steps(tool_call("records_create", collection="notes", data={"text": "hi"}))
    # 1st model call of a turn: that tool call; afterwards: the turn's tool outputs, as a JSON list

Every request body is kept in `requests` for assertions.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass(frozen=True)
class ModelReply:
    """One assistant turn: text, tool calls (name, arguments), or an HTTP failure (`status` ≠ 200)."""

    text: str | None = None
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    status: int = 200


def answer(text: str) -> ModelReply:
    """A final answer."""
    return ModelReply(text=text)


def tool_call(name: str, /, **arguments: Any) -> ModelReply:
    """A turn that calls one tool with these arguments."""
    return ModelReply(tool_calls=((name, arguments),))


def failure(status: int = 500) -> ModelReply:
    """The model endpoint answers with an HTTP error."""
    return ModelReply(status=status)


@dataclass(frozen=True)
class ModelRequest:
    """One request the model received (a Chat Completions body)."""

    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's Chat Completions `messages`: `[{"role": str, "content": …, "tool_calls"?: …}]`."""
        messages = self.body.get("messages")
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

    @property
    def instructions(self) -> str:
        """The system (or developer) message: the agent's instructions."""
        for message in self.messages:
            if message.get("role") in {"system", "developer"}:
                return _text(message.get("content"))
        return ""

    @property
    def tool_names(self) -> list[str]:
        """The tools offered to the model."""
        tools = self.body.get("tools")
        names = [tool.get("function", {}).get("name") for tool in tools or [] if isinstance(tool, dict)]
        return [name for name in names if isinstance(name, str)]

    @property
    def user_message(self) -> str:
        """The last user message: what this turn answers."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _text(message.get("content"))
        return ""

    def _this_turn(self) -> list[dict[str, Any]]:
        messages = self.messages
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        return messages[last_user + 1 :]

    @property
    def step(self) -> int:
        """How many model calls of this turn came before this one (0 for the first)."""
        return sum(1 for message in self._this_turn() if message.get("role") == "assistant")

    @property
    def tool_outputs(self) -> list[str]:
        """The outputs of this turn's tool calls so far, as text, in order."""
        return [_text(m.get("content")) for m in self._this_turn() if m.get("role") == "tool"]


Script = Callable[[ModelRequest], ModelReply]


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def report_tool_outputs(request: ModelRequest) -> ModelReply:
    """The default last step: answer with this turn's tool outputs as a JSON list (or "ok" without any)."""
    outputs = request.tool_outputs
    return answer(json.dumps(outputs) if outputs else "ok")


class ScriptedModelServer:
    """The model's state: its script and the requests it received. Serve `app` (an ASGI app) and set
    `base_url` (`http://host:port/v1`)."""

    def __init__(self) -> None:
        self.base_url = ""
        self.requests: list[dict[str, Any]] = []
        self._script: Script = report_tool_outputs
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])

    def respond_with(self, script: Script) -> None:
        """Answer every request with `script(request)`."""
        self._script = script

    def steps(self, *replies: ModelReply | Script) -> None:
        """The n-th model call of each turn gets `replies[n]` (a reply, or a script for that step); once
        they are used up, the model answers with the turn's tool outputs (`report_tool_outputs`)."""

        def script(request: ModelRequest) -> ModelReply:
            if request.step >= len(replies):
                return report_tool_outputs(request)
            reply = replies[request.step]
            return reply if isinstance(reply, ModelReply) else reply(request)

        self._script = script

    def reset(self) -> None:
        """Forget the requests and go back to the default script."""
        self.requests.clear()
        self._script = report_tool_outputs

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        reply = self._script(ModelRequest(body))
        if reply.status != 200:
            error = {"error": {"message": "scripted failure", "type": "server_error"}}
            return JSONResponse(error, status_code=reply.status)
        model = str(body.get("model", "scripted"))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(_stream(reply, model, include_usage), media_type="text/event-stream")
        return JSONResponse(_completion(reply, model))


_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def _tool_calls(reply: ModelReply) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{index}_{uuid.uuid4().hex[:8]}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        for index, (name, arguments) in enumerate(reply.tool_calls)
    ]


def _completion(reply: ModelReply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
    finish = "tool_calls" if reply.tool_calls else "stop"
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _USAGE,
    }


async def _stream(reply: ModelReply, model: str, include_usage: bool) -> AsyncIterator[str]:
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"

    def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
        }
        if usage is not None:
            payload["usage"] = usage
        return f"data: {json.dumps(payload)}\n\n"

    def delta(content: dict[str, Any], finish: str | None = None) -> str:
        return chunk([{"index": 0, "delta": content, "finish_reason": finish}])

    yield delta({"role": "assistant", "content": ""})
    if reply.text:
        yield delta({"content": reply.text})
    for index, call in enumerate(_tool_calls(reply)):
        yield delta({"tool_calls": [{"index": index, **call}]})
    yield delta({}, "tool_calls" if reply.tool_calls else "stop")
    if include_usage:  # like OpenAI: usage only when the client asks for it
        yield chunk([], _USAGE)
    yield "data: [DONE]\n\n"
