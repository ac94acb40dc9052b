"""Many parallel tool calls in one turn (issue 10, item 18), through the real HTTP endpoint.

A model may ask for a dozen or two tool calls at once. Under the fork launcher's address-space limit
(`MCP_CHILD_MEMORY_MB`, 1 GiB by default) every call must either succeed or be refused with a clear
message the model can act on; and what the answers say must be what happened (no write reported as
failed that was in fact stored, so the model never repeats it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agents.testing import assistant_message, function_call

from support.live_app import LIVE_APP_LAUNCHERS, LiveApp, start_live_app
from support.models import tool_outputs
from support.tokens import auth

CEILING = 120.0
BUSY_TEXT = "busy"  # in the refusal the model reads (see chatgate.mcp_server.concurrency)


@pytest.fixture(scope="module", params=LIVE_APP_LAUNCHERS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    server, live = start_live_app(tmp_path_factory.mktemp("parallel"), MCP_LAUNCHER=request.param)
    with server:
        yield live


def _calls(count: int) -> list[tuple[str, dict[str, Any]]]:
    # Database and file tools: each in-flight one may hold a thread (a driver connection, a file write).
    kinds = [
        lambda n: ("records_create", {"collection": "burst", "data": {"n": n}}),
        lambda n: ("files_write", {"path": f"burst/{n}.txt", "content": f"file {n}"}),
        lambda n: ("tasks_create", {"title": f"task {n}"}),
        lambda n: ("records_list", {"collection": "burst"}),
    ]
    return [kinds[n % len(kinds)](n) for n in range(count)]


def _one_turn_of(calls: list[tuple[str, dict[str, Any]]]) -> Any:
    def policy(call: Any) -> Any:
        outputs = tool_outputs(call)
        if not outputs:
            return [function_call(name, args, call_id=f"call_{n}") for n, (name, args) in enumerate(calls)]
        return [assistant_message(json.dumps(outputs))]

    return policy


def _chat(app: LiveApp, user: str, message: str = "burst") -> httpx.Response:
    with httpx.Client(timeout=CEILING) as client:
        return client.post(f"{app.url}/api/agents/chat", json={"message": message}, headers=auth(user))


@pytest.mark.parametrize("count", [16, 24])
def test_parallel_calls_in_one_turn_succeed_or_are_refused_cleanly(app: LiveApp, count: int) -> None:
    user = f"burst-{count}-{app.settings.resolved_mcp_launcher}"
    calls = _calls(count)
    app.model.policy = _one_turn_of(calls)
    response = _chat(app, user)
    assert response.status_code == 200, response.text
    body = response.json()
    used = body["tools_used"]
    assert len(used) == count
    outputs = json.loads(body["response"])
    assert len(outputs) == count
    for (name, _args), use, output in zip(calls, used, outputs, strict=True):
        if not use["ok"]:
            # Refused for load, in words the model can act on; never a bare failure or a crash.
            assert BUSY_TEXT in output.lower(), (name, output)

    # What the answers said is what happened: every write reported ok is stored, none reported failed is.
    reported = {name: 0 for name in ("records_create", "files_write", "tasks_create")}
    for (name, _args), use in zip(calls, used, strict=True):
        if name in reported and use["ok"]:
            reported[name] += 1
    app.model.policy = _one_turn_of(
        [("records_list", {"collection": "burst"}), ("tasks_list", {}), ("files_list", {"path": "burst"})]
    )
    check = _chat(app, user, "count")
    assert check.status_code == 200, check.text
    records, tasks, files = (json.loads(text) for text in json.loads(check.json()["response"]))
    assert records["total"] == reported["records_create"]
    assert tasks["total"] == reported["tasks_create"]
    assert len(files["entries"]) == reported["files_write"]
    # Under the limit nothing had to be refused at all.
    assert all(use["ok"] for use in used), used
