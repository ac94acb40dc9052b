"""Every way a request can end tears its tool server down: no child process, no leaked descriptor.

Also the failure statuses that need special settings: 502, 503 (saturated, tool server down), 504.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from conftest import LIVE_APP_LAUNCHERS, LiveApp, auth, make_settings, start_live_app
from support.models import answer, call_then_report, until_set
from support.processes import open_fd_count, tool_server_children, wait_until

CHAT_TIMEOUT = 3.0


@pytest.fixture(scope="module", params=LIVE_APP_LAUNCHERS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    server, live = start_live_app(
        tmp_path_factory.mktemp("lifecycle"),
        MCP_LAUNCHER=request.param,
        CHAT_TIMEOUT_SECONDS=CHAT_TIMEOUT,
        MAX_CONCURRENT_SESSIONS=1,
        ADMISSION_WAIT_SECONDS=0.3,
    )
    with server:
        yield live


def post(app: LiveApp, *, timeout: float = 30, user: str = "alice") -> httpx.Response:
    with httpx.Client(timeout=timeout) as client:
        return client.post(f"{app.url}/api/agents/chat", json={"message": "hi"}, headers=auth(user))


def no_tool_servers_left() -> bool:
    return wait_until(lambda: not tool_server_children(), timeout=5)


def slow_policy(release: threading.Event, seconds: float = 20.0) -> Any:
    async def policy(call: Any) -> Any:
        await until_set(release, limit_seconds=seconds)
        return answer("slow answer")(call)

    return policy


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


def test_deadline_is_504_and_leaves_nothing_behind(app: LiveApp) -> None:
    release = threading.Event()
    app.model.policy = slow_policy(release)
    try:
        response = post(app)
    finally:
        release.set()
    assert response.status_code == 504
    body = response.json()["error"]
    assert body["code"] == "deadline_exceeded" and "CHAT_TIMEOUT_SECONDS" in body["message"]
    assert no_tool_servers_left()


def test_client_disconnect_cancels_the_run_and_reaps_the_child(app: LiveApp) -> None:
    release = threading.Event()
    app.model.policy = slow_policy(release)
    try:
        with pytest.raises(httpx.ReadTimeout):
            post(app, timeout=1.0)
        # The run is cancelled on disconnect, well before the model would have answered.
        assert wait_until(lambda: not tool_server_children(), timeout=1.5)
    finally:
        release.set()


def test_saturation_is_503_with_retry_after(app: LiveApp) -> None:
    release = threading.Event()
    app.model.policy = slow_policy(release)
    with httpx.Client(timeout=30) as client:
        first: dict[str, httpx.Response] = {}
        holder = threading.Thread(
            target=lambda: first.setdefault(
                "r", client.post(f"{app.url}/api/agents/chat", json={"message": "a"}, headers=auth("holder"))
            )
        )
        holder.start()
        try:
            assert wait_until(lambda: len(tool_server_children()) == 1, timeout=10)
            second = post(app, user="waiter")
        finally:
            release.set()
            holder.join(timeout=30)
    assert second.status_code == 503
    assert second.json()["error"]["code"] == "saturated"
    assert int(second.headers["retry-after"]) >= 1
    assert first["r"].status_code == 200
    assert no_tool_servers_left()


def test_no_descriptor_or_process_leak_over_many_chats(app: LiveApp) -> None:
    app.model.policy = call_then_report([("whoami", {})])
    assert post(app).status_code == 200  # warm up lazily created resources
    before = open_fd_count()
    for _ in range(8):
        assert post(app).status_code == 200
    assert no_tool_servers_left()
    assert open_fd_count() - before <= 2  # a leak would grow by at least one per request


def test_tool_server_that_cannot_start_is_503(tmp_path_factory: pytest.TempPathFactory) -> None:
    server, live = start_live_app(tmp_path_factory.mktemp("no-start"), MCP_CONNECT_TIMEOUT_SECONDS=0.001)
    with server:
        live.model.policy = answer("unreachable")
        response = post(live)
        ready = httpx.get(f"{live.url}/readyz", timeout=10)
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
            f"{server.url}/api/agents/chat", json={"message": "hi"}, headers=auth(), timeout=10
        )
        tools = httpx.get(f"{server.url}/api/agents/tools", headers=auth(), timeout=30)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "model_not_configured"
    assert "OPENAI_API_KEY" in error["message"] and "OPENAI_BASE_URL" in error["message"]
    assert tools.status_code == 200  # the catalog works without a model
