"""Streaming chat: the AI SDK UI message stream, checked strictly, through the real endpoint."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agents.testing import assistant_message, function_call

from support.live_app import LIVE_APP_LAUNCHERS, LiveApp, leave_stream_at, start_live_app, stream_chat
from support.models import answer, tool_outputs, until_set
from support.processes import tool_server_children, wait_until
from support.tokens import auth
from support.ui_stream import check_chunks, parse_sse

KEEPALIVE = 0.2


@pytest.fixture(scope="module", params=LIVE_APP_LAUNCHERS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    server, live = start_live_app(
        tmp_path_factory.mktemp("streaming"), STREAM_KEEPALIVE_SECONDS=KEEPALIVE, MCP_LAUNCHER=request.param
    )
    with server:
        yield live


def stream(app: LiveApp, *, use_accept: bool = True, user: str = "alice") -> httpx.Response:
    headers = {**auth(user), **({"accept": "text/event-stream"} if use_accept else {})}
    body: dict[str, Any] = {"message": "who am I?"} | ({} if use_accept else {"stream": True})
    return httpx.post(f"{app.url}/api/agents/chat", json=body, headers=headers, timeout=60)


def text_then_whoami_then_report(call: Any) -> Any:
    done = tool_outputs(call)
    if not done:
        return [assistant_message("Checking."), function_call("whoami", {}, call_id="call_who")]
    return [assistant_message(f"You are {json.loads(done[0])['user_id']}.")]


def test_stream_headers_and_protocol(app: LiveApp) -> None:
    app.model.policy = text_then_whoami_then_report
    response = stream(app)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers
    chunks, _ = parse_sse(response.text)
    check_chunks(chunks)
    kinds = [chunk["type"] for chunk in chunks]
    assert kinds[0] == "start" and kinds[-1] == "finish"
    assert kinds.count("start-step") == kinds.count("finish-step") == 2
    tool_start = next(c for c in chunks if c["type"] == "tool-input-available")
    assert tool_start == {
        "type": "tool-input-available",
        "toolCallId": "call_who",
        "toolName": "whoami",
        "input": {},
        "dynamic": True,
    }
    output = next(c for c in chunks if c["type"] == "tool-output-available")
    assert output["output"] == {"user_id": "alice"}
    text = "".join(c["delta"] for c in chunks if c["type"] == "text-delta")
    assert text == "Checking.You are alice."


def test_stream_flag_in_body_also_streams(app: LiveApp) -> None:
    app.model.policy = answer("plain")
    response = stream(app, use_accept=False)
    chunks, _ = parse_sse(response.text)
    check_chunks(chunks)
    assert "".join(c["delta"] for c in chunks if c["type"] == "text-delta") == "plain"


def test_tool_error_becomes_tool_output_error(app: LiveApp) -> None:
    def policy(call: Any) -> Any:
        if not tool_outputs(call):
            return [function_call("whoami", {"user_id": "mallory"}, call_id="call_bad")]
        return [assistant_message("I cannot do that.")]

    app.model.policy = policy
    chunks, _ = parse_sse(stream(app).text)
    check_chunks(chunks)
    error = next(c for c in chunks if c["type"] == "tool-output-error")
    assert error["toolCallId"] == "call_bad" and "unknown argument" in error["errorText"]


def test_model_failure_mid_stream_is_an_error_event_not_a_hang(app: LiveApp) -> None:
    import openai

    def policy(call: Any) -> Any:
        if not tool_outputs(call):
            return [function_call("whoami", {}, call_id="call_1")]
        return openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9"))

    app.model.policy = policy
    response = stream(app)
    assert response.status_code == 200  # headers were sent before the failure
    chunks, _ = parse_sse(response.text)
    check_chunks(chunks)
    assert chunks[-1] == {"type": "error", "errorText": "The model endpoint failed or could not be reached."}
    assert wait_until(lambda: not tool_server_children())


def test_text_arrives_before_the_run_ends_and_keepalives_flow(app: LiveApp) -> None:
    """The second model turn waits until the client has seen the first turn's text: no buffering."""
    seen_first_delta = threading.Event()

    async def policy(call: Any) -> Any:
        if not tool_outputs(call):
            return [assistant_message("First words."), function_call("whoami", {}, call_id="call_w")]
        await until_set(seen_first_delta, limit_seconds=60)
        await asyncio.sleep(KEEPALIVE * 3)  # long enough for keep-alive comments
        return [assistant_message("done" if seen_first_delta.is_set() else "buffered")]

    app.model.policy = policy
    body = ""
    with stream_chat(app) as response:
        for text in response.iter_text():
            body += text
            if '"type":"text-delta"' in body:
                seen_first_delta.set()
    chunks, comments = parse_sse(body)
    check_chunks(chunks)
    assert "".join(c["delta"] for c in chunks if c["type"] == "text-delta").endswith("done")
    assert comments >= 1


def test_disconnect_mid_stream_reaps_the_child_before_the_model_answers(app: LiveApp) -> None:
    release = threading.Event()
    finished_after_release: list[str] = []

    async def policy(call: Any) -> Any:
        if not tool_outputs(call):
            return [assistant_message("Working on it."), function_call("whoami", {}, call_id="call_d")]
        await until_set(release)
        finished_after_release.append("model turn completed")  # only if the run was not cancelled
        return [assistant_message("too late")]

    app.model.policy = policy
    try:
        leave_stream_at(app, "tool-output-available")
        # The model answers only on `release`, not set yet: only cancelling the run reaps the child.
        assert wait_until(lambda: not tool_server_children(), timeout=60)
    finally:
        release.set()
    # The run itself was cancelled, not just the response: the pending model turn never completes.
    time.sleep(0.3)
    assert finished_after_release == []


def test_explicit_stream_false_wins_over_the_accept_header(app: LiveApp) -> None:
    app.model.policy = answer("json please")
    response = httpx.post(
        f"{app.url}/api/agents/chat",
        json={"message": "hi", "stream": False},
        headers={**auth(), "accept": "text/event-stream, application/json"},
        timeout=60,
    )
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["response"] == "json please"


async def test_client_gone_before_the_stream_starts_releases_the_conversation(tmp_path: Any) -> None:
    """Raw ASGI: the client disconnects right after sending its body. The claim is released, the run
    recorded as interrupted, the message kept, and the next message is not refused as busy."""
    from chatgate.main import create_app
    from support.models import SwitchableModel
    from support.settings import make_settings
    from support.tokens import mint

    model = SwitchableModel()
    model.policy = answer("unheard")
    app = create_app(make_settings(tmp_path), model_provider=model)
    body = json.dumps({"message": "anyone there?", "conversation_id": "gone1", "stream": True}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/agents/chat",
        "raw_path": b"/api/agents/chat",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {mint('ghost')}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(_message: dict[str, Any]) -> None:
        return None

    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
        services = app.state.services
        conversation, runs = await services.chat.conversations.get("ghost", "gone1")
        assert conversation["running"] is False
        assert [run["outcome"] for run in runs] == ["interrupted"]
        messages.append({"type": "http.request", "body": body, "more_body": False})
        sent: list[dict[str, Any]] = []

        async def record(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, record)
        assert sent[0]["status"] == 200  # not 409: the first request's claim was released
        history = await services.chat.conversations.get("ghost", "gone1")
    assert history[0]["id"] == "gone1"
