"""Lazy tool servers (issue 16, item 3), through `POST /api/agents/chat` with real processes on both
launchers: the model gets the catalog without a process, the first tool call launches the server
bound to the caller, and a chat that calls no tool launches nothing.

What is counted is processes and launcher events, never timings: tool-server children of this
process while a chat is paused in its model call, and `chatgate_tool_server_launches_total`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agents.testing import ModelCall

from apis import conftest as api_fixtures
from apis.upstream import Upstream, new_key
from apis.upstream import write_config as write_api_config
from support.live_app import LiveApp, start_live_app
from support.metrics import scrape, value
from support.models import answer, call_then_report, tool_outputs, until_set
from support.processes import tool_server_children, wait_until
from support.tokens import auth
from toolsets.project_config import write_config as write_toolset_config

upstream = api_fixtures.upstream
CEILING = 60.0
LAUNCHES = "chatgate_tool_server_launches_total"


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, launcher_name: str
) -> Iterator[LiveApp]:
    """Operator toolsets and HTTP APIs (one with per-user credentials) configured: a full catalog."""
    state = tmp_path_factory.mktemp("lazy")
    common = {"base_url": upstream.base_url, "openapi": upstream.openapi_url, "allow_private": True}
    apis = write_api_config(
        state / "apis.toml",
        [
            {**common, "name": "mine", "operations": ["whoami"], "auth": "user"},
            {**common, "name": "shop", "operations": ["getItem"]},
        ],
    )
    config = write_toolset_config(state, apis.read_text())
    server, live = start_live_app(
        state, CHATGATE_CONFIG=config, CHATGATE_ENCRYPTION_KEY=new_key(), MCP_LAUNCHER=launcher_name
    )
    with server:
        yield live


class Paused:
    """A policy that pauses in the model call after `calls` are answered, until released."""

    def __init__(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.seen: list[ModelCall] = []
        self._report = call_then_report(calls)
        self._calls = len(calls)

    async def __call__(self, call: ModelCall) -> Any:
        self.seen.append(call)
        if len(tool_outputs(call)) < self._calls:
            return self._report(call)
        self.entered.set()
        await until_set(self.release)
        return self._report(call) if self._calls else answer("hello")(call)


def chat_while_paused(app: LiveApp, policy: Paused, user: str) -> tuple[httpx.Response, int]:
    """Send a chat; once it waits on the model's last answer, count its live tool servers."""
    app.model.policy = policy
    result: dict[str, httpx.Response] = {}
    sender = threading.Thread(
        target=lambda: result.setdefault(
            "r",
            httpx.post(
                f"{app.url}/api/agents/chat", json={"message": "hi"}, headers=auth(user), timeout=CEILING
            ),
        )
    )
    sender.start()
    try:
        assert policy.entered.wait(CEILING)
        live = len(tool_server_children())
    finally:
        policy.release.set()
        sender.join(CEILING)
    return result["r"], live


def test_a_chat_that_calls_no_tool_launches_nothing(app: LiveApp) -> None:
    before = scrape(app.url)
    response, live = chat_while_paused(app, Paused([]), "nobody-calls")
    after = scrape(app.url)
    assert response.status_code == 200, response.text
    assert live == 0  # mid-chat, with the model answering: no tool server exists
    assert value(after, LAUNCHES, result="ok") - value(before, LAUNCHES, result="ok") == 0
    assert value(after, LAUNCHES, result="failed") - value(before, LAUNCHES, result="failed") == 0
    body = response.json()
    assert body["tools_used"] == []
    assert body["timings_ms"]["launch"] == 0 and body["timings_ms"]["teardown"] == 0


def test_the_first_tool_call_launches_one_server_bound_to_the_caller(app: LiveApp) -> None:
    before = scrape(app.url)
    response, live = chat_while_paused(app, Paused([("whoami", {}), ("whoami", {})]), "bob-lazy")
    after = scrape(app.url)
    assert response.status_code == 200, response.text
    assert live == 1  # launched at the first call, reused by the second, alive until the chat ends
    assert value(after, LAUNCHES, result="ok") - value(before, LAUNCHES, result="ok") == 1
    body = response.json()
    assert [json.loads(output)["user_id"] for output in json.loads(body["response"])] == ["bob-lazy"] * 2
    assert body["timings_ms"]["launch"] > 0
    assert wait_until(lambda: not tool_server_children(), timeout=CEILING)  # torn down at the end


def _as_the_model_sees_it(tool: dict[str, Any]) -> tuple[str, str, str]:
    # What the SDK makes of an MCP tool for the model (not strict: the agents' default): the schema,
    # with `properties` added when the server listed none.
    schema = {"properties": {}, **tool["input_schema"]}
    return tool["name"], tool["description"], json.dumps(schema, sort_keys=True)


def test_the_model_gets_exactly_what_a_server_bound_to_the_user_lists(app: LiveApp) -> None:
    user = "carol-lazy"
    stored = httpx.put(
        f"{app.url}/api/credentials/mine", json={"token": "carol-token"}, headers=auth(user), timeout=CEILING
    )
    assert stored.status_code in (200, 204), stored.text
    listed = httpx.get(f"{app.url}/api/agents/tools", headers=auth(user), timeout=CEILING)  # a real server
    assert listed.status_code == 200, listed.text
    bound = {_as_the_model_sees_it(tool) for tool in listed.json()["tools"]}
    names = {name for name, _, _ in bound}
    assert {"whoami", "api_mine_whoami", "api_shop_getItem"} <= names
    assert any(name.startswith("notes_") for name in names)  # the operator's toolset
    # The listing's server is torn down after its response is sent: wait for it, so the count below
    # is of this chat's servers only.
    assert wait_until(lambda: not tool_server_children(), timeout=CEILING)

    policy = Paused([])
    response, live = chat_while_paused(app, policy, user)
    assert response.status_code == 200 and live == 0
    offered = {
        (tool.name, tool.description, json.dumps(tool.params_json_schema, sort_keys=True))
        for tool in policy.seen[0].tools
    }
    assert offered == bound
