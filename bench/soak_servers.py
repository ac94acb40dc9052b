"""The soak's peers on loopback: a scripted model with faults, a slow API whose caller gets killed,
and a JWKS issuer that can go down.

Each chat's message names what should happen to it (`soak:<kind>`), so the model knows which fault
to inject and the driver knows which outcome was designed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from typing import Any

import jwt
import psutil
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import OKPAlgorithm
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SLOW_API_NAME = "slow"
SLOW_TOOL = f"api_{SLOW_API_NAME}_wait"


def _kind_of(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content)
            for kind in ("kill_tool", "model_5xx", "model_timeout", "tool"):
                if f"soak:{kind}" in text:
                    return kind
            return "plain"
    return "plain"


class SoakModel:
    """Chat Completions: `tool` chats call `whoami`, `kill_tool` chats the slow API, then answer."""

    def __init__(self, timeout_sleep_seconds: float) -> None:
        self.timeout_sleep = timeout_sleep_seconds
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])

    async def _completions(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ClientDisconnect:
            # The chat was cancelled (its client left, its deadline passed) while sending its request:
            # nobody reads an answer. Not an error of this peer, so no traceback in the soak's output.
            return Response(status_code=499)
        messages = list(body.get("messages", []))
        kind = _kind_of(messages)
        if kind == "model_5xx":
            return JSONResponse({"error": {"message": "injected", "type": "server_error"}}, status_code=500)
        if kind == "model_timeout":
            await asyncio.sleep(self.timeout_sleep)
            return JSONResponse({"error": {"message": "late", "type": "server_error"}}, status_code=500)
        answered_tool = any(message.get("role") == "tool" for message in messages)
        tool = {"tool": "whoami", "kill_tool": SLOW_TOOL}.get(kind)
        call = None if answered_tool or tool is None else tool
        model = str(body.get("model", "soak"))
        if body.get("stream"):
            usage = (body.get("stream_options") or {}).get("include_usage") is True
            return StreamingResponse(_stream(model, call, usage), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": None if call else "soak answer"}
        if call:
            message["tool_calls"] = [_tool_call(call)]
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": "tool_calls" if call else "stop"}
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )


def _tool_call(name: str) -> dict[str, Any]:
    return {
        "id": f"call_{uuid.uuid4().hex[:20]}",
        "type": "function",
        "function": {"name": name, "arguments": "{}"},
    }


async def _stream(model: str, call: str | None, usage: bool) -> Any:
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return f"data: {json.dumps({**base, 'choices': [choice]})}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    if call:
        yield chunk({"tool_calls": [{"index": 0, **_tool_call(call)}]})
        yield chunk({}, finish="tool_calls")
    else:
        for word in ("soak ", "answer"):
            yield chunk({"content": word})
        yield chunk({}, finish="stop")
    if usage:
        totals = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        yield f"data: {json.dumps({**base, 'choices': [], 'usage': totals})}\n\n"
    yield "data: [DONE]\n\n"


class SlowApi:
    """An HTTP API with one operation; whoever calls it (a tool server) is SIGKILLed mid-call."""

    def __init__(self) -> None:
        self.port = 0
        self.kills = 0
        self.app = Starlette(
            routes=[Route("/openapi.json", self._document), Route("/wait", self._wait, methods=["GET"])]
        )

    async def _document(self, _: Request) -> JSONResponse:
        return JSONResponse(
            {
                "openapi": "3.1.0",
                "info": {"title": "slow", "version": "1"},
                "paths": {
                    "/wait": {
                        "get": {
                            "operationId": "wait",
                            "summary": "Wait for the slow service to answer.",
                            "responses": {"200": {"description": "done"}},
                        }
                    }
                },
            }
        )

    async def _wait(self, request: Request) -> JSONResponse:
        peer = request.client.port if request.client else None
        pid = await asyncio.to_thread(_pid_of_peer, peer, self.port)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)  # the tool server dies with this call in flight
            self.kills += 1
        await asyncio.sleep(0.05)
        return JSONResponse({"ok": True})


def _pid_of_peer(peer_port: int | None, server_port: int) -> int | None:
    if peer_port is None:
        return None
    for connection in psutil.net_connections(kind="tcp"):
        local, remote = connection.laddr, connection.raddr
        if local and remote and local.port == peer_port and remote.port == server_port and connection.pid:
            return int(connection.pid)
    return None


class SoakIssuer:
    """A JWKS issuer with one Ed25519 key; `down` makes it answer 503 (an outage)."""

    def __init__(self) -> None:
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.stranger = ed25519.Ed25519PrivateKey.generate()  # a key the JWKS never publishes
        self.kid = "soak-key"
        self.down = False
        self.app = Starlette(routes=[Route("/jwks", self._jwks)])

    async def _jwks(self, _: Request) -> JSONResponse:
        if self.down:
            return JSONResponse({"error": "outage"}, status_code=503)
        jwk = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig")
        return JSONResponse({"keys": [jwk]})

    def token(self, user: str, *, unknown_kid: bool = False) -> str:
        now = int(time.time())
        key, kid = (self.stranger, "rotated-key") if unknown_kid else (self.key, self.kid)
        return jwt.encode(
            {"sub": user, "iat": now, "exp": now + 3600}, key, algorithm="EdDSA", headers={"kid": kid}
        )
