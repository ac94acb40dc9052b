"""Every way a request can end tears its tool server down: no child process, no leaked descriptor.

Also the failure statuses that need special settings: 502, 503 (saturated, tool server down or
killed), 504. Nothing here depends on how fast the machine is: waits are on events and conditions,
under ceilings that only catch a hang; the settings that must be small (a deadline, an admission
wait) live in apps of their own whose tests do not need a chat to finish in time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from chatgate.launcher.session import PipeMCPServer
from support.live_app import LIVE_APP_LAUNCHERS, LiveApp, start_live_app, stream_chat
from support.models import answer, call_then_report, tool_outputs, until_set
from support.processes import open_fd_count, tool_server_children, wait_until
from support.settings import make_settings
from support.tokens import auth
from support.ui_stream import parse_sse

# Only catch hangs: a busy machine is slow, never this slow.
CEILING = 60.0
INTERNAL_ERROR_TEXT = "Something went wrong on our side."


@pytest.fixture(scope="module", params=LIVE_APP_LAUNCHERS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    server, live = start_live_app(tmp_path_factory.mktemp("lifecycle"), MCP_LAUNCHER=request.param)
    with server:
        yield live


@pytest.fixture(params=LIVE_APP_LAUNCHERS)
def launcher_param(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def post(app: LiveApp, *, timeout: float = CEILING, user: str = "alice") -> httpx.Response:
    with httpx.Client(timeout=timeout) as client:
        return client.post(f"{app.url}/api/agents/chat", json={"message": "hi"}, headers=auth(user))


def no_tool_servers_left() -> bool:
    return wait_until(lambda: not tool_server_children(), timeout=CEILING)


def slow_policy(release: threading.Event, entered: threading.Event | None = None) -> Any:
    """Answers only once `release` is set (sets `entered` when the model is first called)."""

    async def policy(call: Any) -> Any:
        if entered is not None:
            entered.set()
        await until_set(release, limit_seconds=CEILING * 2)
        return answer("slow answer")(call)

    return policy


def tool_then_slow(release: threading.Event, entered: threading.Event | None = None) -> Any:
    """Calls `whoami` (a tool server is launched at that first call), then answers like `slow_policy`."""
    slow, first_call = slow_policy(release, entered), call_then_report([("whoami", {})])

    async def policy(call: Any) -> Any:
        return first_call(call) if not tool_outputs(call) else await slow(call)

    return policy


def post_and_hang_up(app: LiveApp, when: threading.Event) -> None:
    """Send a chat over a raw socket and close it once `when` is set (the client leaves mid-answer)."""
    body = json.dumps({"message": "hi"}).encode()
    headers = {**auth(), "Content-Type": "application/json", "Content-Length": str(len(body))}
    head = "POST /api/agents/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    host, port = app.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=CEILING) as sock:
        sock.sendall(head.encode() + body)
        assert when.wait(CEILING), "the model was never called"


def test_success_leaves_nothing_behind(app: LiveApp) -> None:
    app.model.policy = call_then_report([("whoami", {})])
    assert post(app).status_code == 200
    assert no_tool_servers_left()


def test_failing_tool_leaves_nothing_behind(app: LiveApp) -> None:
    app.model.policy = call_then_report([("whoami", {"user_id": "eve"})])
    response = post(app)
    assert response.status_code == 200
    assert response.json()["tools_used"] == [{"name": "whoami", "ok": False}]
    assert no_tool_servers_left()


def test_model_error_is_502_and_leaves_nothing_behind(app: LiveApp) -> None:
    def broken(_call: Any) -> Any:
        return openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/responses"))

    app.model.policy = broken
    response = post(app)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "model_error"
    assert no_tool_servers_left()


def test_client_disconnect_cancels_the_run_and_reaps_the_child(app: LiveApp) -> None:
    release, entered = threading.Event(), threading.Event()
    app.model.policy = tool_then_slow(release, entered)  # a live tool server when the client leaves
    try:
        post_and_hang_up(app, entered)
        # The model answers only on `release`, which is not set: only cancelling the run ends it.
        assert no_tool_servers_left()
    finally:
        release.set()


def test_no_descriptor_or_process_leak_over_many_chats(app: LiveApp) -> None:
    app.model.policy = call_then_report([("whoami", {})])
    assert post(app).status_code == 200  # warm up lazily created resources
    before = open_fd_count()
    for _ in range(8):
        assert post(app).status_code == 200
    assert no_tool_servers_left()
    assert open_fd_count() - before <= 2  # a leak would grow by at least one per request


def test_deadline_is_504_and_leaves_nothing_behind(
    launcher_param: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A short deadline is safe here: it is 504 wherever it strikes (admission, launch or run).
    server, live = start_live_app(
        tmp_path_factory.mktemp("deadline"), MCP_LAUNCHER=launcher_param, CHAT_TIMEOUT_SECONDS=3
    )
    release = threading.Event()
    live.model.policy = tool_then_slow(release)  # a live tool server when the deadline passes
    with server:
        try:
            response = post(live)
        finally:
            release.set()
    assert response.status_code == 504
    body = response.json()["error"]
    assert body["code"] == "deadline_exceeded" and "CHAT_TIMEOUT_SECONDS" in body["message"]
    assert no_tool_servers_left()


def test_saturation_is_503_with_retry_after(
    launcher_param: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server, live = start_live_app(
        tmp_path_factory.mktemp("saturation"),
        MCP_LAUNCHER=launcher_param,
        MAX_CONCURRENT_SESSIONS=1,
        ADMISSION_WAIT_SECONDS=0.3,  # the holder keeps its slot until released: any wait expires
    )
    release = threading.Event()
    live.model.policy = tool_then_slow(release)  # the holder holds a live tool server and its slot
    with server, httpx.Client(timeout=CEILING) as client:
        first: dict[str, httpx.Response] = {}
        holder = threading.Thread(
            target=lambda: first.setdefault(
                "r", client.post(f"{live.url}/api/agents/chat", json={"message": "a"}, headers=auth("holder"))
            )
        )
        holder.start()
        try:
            assert wait_until(lambda: len(tool_server_children()) == 1, timeout=CEILING)
            second = post(live, user="waiter")
        finally:
            release.set()
            holder.join(timeout=CEILING)
    assert second.status_code == 503
    assert second.json()["error"]["code"] == "saturated"
    assert int(second.headers["retry-after"]) >= 1
    assert first["r"].status_code == 200
    assert no_tool_servers_left()


def test_tool_server_that_cannot_start_is_503(tmp_path_factory: pytest.TempPathFactory) -> None:
    # No interpreter starts and answers the MCP handshake within a millisecond, on any machine.
    server, live = start_live_app(
        tmp_path_factory.mktemp("no-start"), MCP_LAUNCHER="exec", MCP_CONNECT_TIMEOUT_SECONDS=0.001
    )
    with server:
        # Tool servers start at a chat's first tool call: this chat makes one.
        live.model.policy = call_then_report([("whoami", {})])
        response = post(live)
        ready = httpx.get(f"{live.url}/readyz", timeout=CEILING)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "tool_server_unavailable"
    assert "retry-after" in response.headers
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
    assert no_tool_servers_left()


def test_no_model_configured_is_503_naming_the_variables(tmp_path_factory: pytest.TempPathFactory) -> None:
    from chatgate.main import create_app
    from support.servers import ThreadedServer

    settings = make_settings(tmp_path_factory.mktemp("no-model"))
    with ThreadedServer(create_app(settings)) as server:
        response = httpx.post(
            f"{server.url}/api/agents/chat", json={"message": "hi"}, headers=auth(), timeout=CEILING
        )
        tools = httpx.get(f"{server.url}/api/agents/tools", headers=auth(), timeout=CEILING)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "model_not_configured"
    assert "OPENAI_API_KEY" in error["message"] and "OPENAI_BASE_URL" in error["message"]
    assert tools.status_code == 200  # the catalog works without a model


# A tool server killed at any moment (issue 10, item 20) -----------------------------------------


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already killed at an earlier turn
        os.kill(pid, signal.SIGKILL)


def _kill_at(point: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL the request's real tool server at `point` (hooks on the client side of the session)."""
    if point == "connect":
        original_connect = PipeMCPServer.connect

        async def connect(self: PipeMCPServer) -> None:
            _kill(self.pid)
            await original_connect(self)

        monkeypatch.setattr(PipeMCPServer, "connect", connect)
    elif point == "call":
        original_call = PipeMCPServer.call_tool

        async def call_tool(self: PipeMCPServer, *args: Any, **kwargs: Any) -> Any:
            import asyncio

            # The kill lands once the request is on its way: the call is in flight when the server dies.
            asyncio.get_running_loop().call_soon(_kill, self.pid)
            return await original_call(self, *args, **kwargs)

        monkeypatch.setattr(PipeMCPServer, "call_tool", call_tool)


def _between_calls_policy() -> Any:
    report = call_then_report([("whoami", {}), ("whoami", {})])

    def policy(call: Any) -> Any:
        if len(tool_outputs(call)) == 1:  # the first call answered: the server dies before the second
            for child in tool_server_children():
                child.kill()
        return report(call)

    return policy


# No "list_tools" point: the model's tool list comes from the launcher's catalog (`LazyToolServer`),
# never from the tool server, which is launched at the first tool call (the "connect" point).
KILL_POINTS = ["connect", "call", "between_calls"]


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_tool_server_killed_at_any_moment_is_a_tool_error_or_503_never_500(
    app: LiveApp, point: str, streamed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _kill_at(point, monkeypatch)
    app.model.policy = (
        _between_calls_policy()
        if point == "between_calls"
        else call_then_report([("whoami", {}), ("whoami", {})])
    )
    if streamed:
        with stream_chat(app) as response:
            status = response.status_code
            chunks, _ = parse_sse(response.read().decode())
        assert status == 200
        errors = [chunk["errorText"] for chunk in chunks if chunk["type"] == "error"]
        tool_errors = [chunk for chunk in chunks if chunk["type"] == "tool-output-error"]
        assert INTERNAL_ERROR_TEXT not in errors, chunks
        # Either the run ended on a clear tool-server error, or the model saw failed tool calls.
        assert errors or tool_errors, chunks
        assert all("tool server" in error.lower() for error in errors), chunks
    else:
        response = post(app)
        assert response.status_code in (200, 503), response.text
        if response.status_code == 503:
            assert response.json()["error"]["code"] == "tool_server_unavailable"
        else:
            assert any(not use["ok"] for use in response.json()["tools_used"]), response.text
    if point == "connect":
        assert (response.status_code, streamed) != (200, False)
    if point == "between_calls" and not streamed:
        assert response.json()["tools_used"] == [
            {"name": "whoami", "ok": True},
            {"name": "whoami", "ok": False},
        ]
    assert no_tool_servers_left()
