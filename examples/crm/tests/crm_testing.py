"""Helpers for the CRM example's tests: a scripted model, tokens for any user, a stand-in for the
billing API, and a way to serve an ASGI app on a free loopback port.

Nothing here calls a real model or a real billing service: the model is the Agents SDK's
`ScriptedModel`, and the billing API's base URL is pointed at a local stand-in.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from agents import Model
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

EXAMPLE = Path(__file__).resolve().parents[1]

JWT_SECRET = "crm-example-test-secret-" + "x" * 24
BILLING_INVOICES = {
    "alice-billing-token": [{"id": "INV-1", "amount": 120.0, "currency": "EUR", "status": "open"}],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """`with Served(asgi_app) as url:` uvicorn on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        port = int(self.url.rsplit(":", 1)[1])
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self.url

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


def outputs_so_far(call: ModelCall) -> list[str]:
    """The tool outputs the model has been shown in this run, in order."""
    texts = []
    for item in call.input if isinstance(call.input, list) else []:
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            output = item.get("output")
            if isinstance(output, list):
                output = "".join(part.get("text", "") for part in output if isinstance(part, dict))
            texts.append(str(output))
    return texts


@dataclass
class ScriptedTurns:
    """The model: each chat calls the planned tools in order, then answers with their outputs as JSON."""

    plan: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    calls: list[ModelCall] = field(default_factory=list)

    def __call__(self) -> Model:
        return ScriptedModel([ModelStep.respond(self._next) for _ in range(12)])

    def _next(self, call: ModelCall) -> Any:
        self.calls.append(call)
        done = outputs_so_far(call)
        if len(done) < len(self.plan):
            name, arguments = self.plan[len(done)]
            return [function_call(name, arguments, call_id=f"call_{len(done)}")]
        return [assistant_message(json.dumps(done))]


@dataclass
class CrmApp:
    url: str
    model: ScriptedTurns


def token_for(user: str, **claims: Any) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + 600, **claims}, JWT_SECRET, algorithm="HS256")


def billing_app() -> Starlette:
    async def invoices(request: Request) -> JSONResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in BILLING_INVOICES:
            return JSONResponse({"error": "unknown token"}, status_code=401)
        status = request.query_params.get("status")
        found = [i for i in BILLING_INVOICES[token] if status in (None, i["status"])]
        return JSONResponse({"invoices": found})

    return Starlette(routes=[Route("/v1/invoices", invoices)])


def config_for_tests(directory: Path, billing_url: str) -> Path:
    """The project's own chatgate.toml, with the billing API pointed at the local stand-in (and its
    relative paths made absolute, since the copy lives elsewhere)."""
    text = (EXAMPLE / "chatgate.toml").read_text(encoding="utf-8")
    text = text.replace(
        'base_url = "https://billing.example.com/v1"', f'base_url = "{billing_url}/v1"\nallow_private = true'
    )
    text = text.replace('path = "."', f'path = "{EXAMPLE}"')
    text = text.replace('"prompts/', f'"{EXAMPLE}/prompts/').replace('"openapi/', f'"{EXAMPLE}/openapi/')
    path = directory / "chatgate.toml"
    path.write_text(text, encoding="utf-8")
    return path
