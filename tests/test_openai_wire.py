"""The real model path: the OpenAI client speaking Chat Completions to a scripted server on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from agents import Runner

from chatgate.agents import build_agent, model_provider_from_settings, run_config
from chatgate.auth.principal import Principal
from chatgate.launcher.exec import ExecLauncher
from chatgate.main import create_app
from support.openai_wire import ScriptedOpenAI, WireReply, WireToolCall, call_tool_then_echo
from support.processes import tool_server_children, wait_until
from support.servers import ThreadedServer
from support.settings import make_settings
from support.tokens import auth

MODEL_KEY = "sk-test-model-key-for-the-scripted-server"


@pytest.fixture(scope="module")
def wire_app(
    tmp_path_factory: pytest.TempPathFactory, scripted_openai: ScriptedOpenAI
) -> Iterator[tuple[str, ScriptedOpenAI]]:
    settings = make_settings(
        tmp_path_factory.mktemp("wire"),
        OPENAI_BASE_URL=scripted_openai.base_url,
        OPENAI_API_KEY=MODEL_KEY,
        AGENT_MODEL="scripted-model",
    )
    with ThreadedServer(create_app(settings)) as server:
        yield server.url, scripted_openai


async def test_two_users_drive_whoami_over_the_wire_without_crossing(
    wire_app: tuple[str, ScriptedOpenAI],
) -> None:
    url, wire = wire_app
    wire.script = call_tool_then_echo("whoami")
    users = ["alice", "bob"] * 3
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(client.post(f"{url}/api/agents/chat", json={"message": "who?"}, headers=auth(u)) for u in users)
        )
    for user, response in zip(users, responses, strict=True):
        assert response.status_code == 200, response.text
        assert json.loads(response.json()["response"])["user_id"] == user
        assert response.json()["tools_used"] == [{"name": "whoami", "ok": True}]
        assert response.json()["usage"]["total_tokens"] == 36  # two completions of 18 tokens
    assert wait_until(lambda: not tool_server_children())


def test_model_key_and_tools_reach_the_model_server(wire_app: tuple[str, ScriptedOpenAI]) -> None:
    url, wire = wire_app
    wire.script = lambda _messages: WireReply(text="plain answer")
    wire.requests.clear()
    wire.headers.clear()
    response = httpx.post(f"{url}/api/agents/chat", json={"message": "hello"}, headers=auth(), timeout=60)
    assert response.status_code == 200 and response.json()["response"] == "plain answer"
    (request,) = wire.requests
    assert request["model"] == "scripted-model"
    assert wire.headers[0]["authorization"] == f"Bearer {MODEL_KEY}"
    offered = {tool["function"]["name"] for tool in request["tools"]}
    assert "whoami" in offered
    assert request["messages"][-1] == {"role": "user", "content": "hello"}


@pytest.mark.parametrize("status", [500, 400, 429])
def test_failing_model_endpoint_is_502(wire_app: tuple[str, ScriptedOpenAI], status: int) -> None:
    url, wire = wire_app
    wire.script = lambda _messages: WireReply(status=status)
    response = httpx.post(f"{url}/api/agents/chat", json={"message": "hello"}, headers=auth(), timeout=60)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "model_error" and str(status) in error["message"]
    assert "scripted failure" not in response.text  # upstream text is not relayed
    assert MODEL_KEY not in response.text


@pytest.mark.parametrize("as_object", [False, True])
@pytest.mark.parametrize("stream", [False, True])
def test_tool_arguments_nested_past_the_recursion_limit_are_a_model_error(
    wire_app: tuple[str, ScriptedOpenAI], as_object: bool, stream: bool
) -> None:
    # A model (a prompt injection, say) can answer with arguments nested a thousand levels deep: the
    # walks over them give up, and that is the model's failure (502), not ours (500).
    url, wire = wire_app
    data: object = "\ud800"  # a lone surrogate: the normaliser walks the arguments too
    for _ in range(900):
        data = {"a": data}
    arguments = {"collection": "notes", "data": data}
    call = WireToolCall("records_create", arguments, arguments_as_object=as_object)
    wire.script = lambda _messages: WireReply(tool_calls=[call])
    body = {"message": "hello", "stream": stream}
    response = httpx.post(f"{url}/api/agents/chat", json=body, headers=auth(), timeout=60)
    if stream:
        assert response.status_code == 200
        assert '"type":"error"' in response.text and "Something went wrong" not in response.text
    else:
        assert response.status_code == 502, response.text
        assert response.json()["error"]["code"] == "model_error"
    assert wait_until(lambda: not tool_server_children())


def test_unreachable_model_endpoint_is_502(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, OPENAI_BASE_URL="http://127.0.0.1:9/v1", AGENT_MODEL="m")
    with ThreadedServer(create_app(settings)) as server:
        response = httpx.post(
            f"{server.url}/api/agents/chat", json={"message": "hi"}, headers=auth(), timeout=60
        )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "model_error"
    assert wait_until(lambda: not tool_server_children())


async def test_streaming_chat_completions_deliver_text_incrementally(
    tmp_path: Path, scripted_openai: ScriptedOpenAI
) -> None:
    scripted_openai.script = call_tool_then_echo("whoami")
    settings = make_settings(tmp_path, OPENAI_BASE_URL=scripted_openai.base_url, AGENT_MODEL="scripted-model")
    provider = model_provider_from_settings(settings)
    assert provider is not None
    deltas: list[str] = []
    try:
        async with ExecLauncher(settings).launch(Principal("streamer"), request_id="stream") as server:
            agent = build_agent(provider(), server)
            result = Runner.run_streamed(agent, "who am I?", run_config=run_config(settings))
            async for event in result.stream_events():
                if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
                    deltas.append(event.data.delta)
    finally:
        await provider.aclose()
    assert len(deltas) > 1  # the scripted server sends the answer in 4-character chunks
    assert json.loads("".join(deltas))["user_id"] == "streamer"
    assert scripted_openai.requests[-1]["stream"] is True
