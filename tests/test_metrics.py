"""`GET /metrics` end to end: real chats, real tool servers, the Prometheus text a scraper reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from agents.testing import ModelCall

from support.jwks_server import JwksServer
from support.live_app import LiveApp, start_live_app, stream_chat
from support.metrics import parse, scrape, value
from support.models import answer, call_then_report
from support.openai_wire import ScriptedOpenAI, WireReply
from support.servers import ThreadedServer, free_port
from support.tokens import auth, mint


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    server, live = start_live_app(tmp_path_factory.mktemp("metrics"), MCP_LAUNCHER="fork")
    with server:
        yield live


def chat(app: LiveApp, message: str = "hi", user: str = "alice") -> httpx.Response:
    return httpx.post(f"{app.url}/api/agents/chat", json={"message": message}, headers=auth(user), timeout=60)


def test_chats_tool_calls_phases_and_tool_servers_are_counted(app: LiveApp) -> None:
    before = scrape(app.url)
    app.model.policy = call_then_report([("whoami", {})])
    assert chat(app).status_code == 200
    with stream_chat(app) as response:
        assert response.status_code == 200
        assert "data: [DONE]" in response.read().decode()
    after = scrape(app.url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("chatgate_chats_total", outcome="completed", code="none", mode="json") == 1
    assert delta("chatgate_chats_total", outcome="completed", code="none", mode="stream") == 1
    assert delta("chatgate_chat_duration_seconds_count", mode="json") == 1
    assert delta("chatgate_tool_calls_total", tool="whoami", outcome="ok") == 2
    assert delta("chatgate_tool_call_duration_seconds_count") == 2
    for phase in ("launch", "model", "tools", "teardown"):
        assert delta("chatgate_chat_phase_seconds_count", phase=phase) == 2, phase
    # Two model calls per chat (the tool call, then the answer), one chat per mode.
    assert delta("chatgate_model_calls_total", mode="json", result="ok") == 2
    assert delta("chatgate_model_calls_total", mode="stream", result="ok") == 2
    assert delta("chatgate_tool_server_launches_total", result="ok") >= 2
    assert delta("chatgate_admission_wait_seconds_count") >= 2
    assert value(after, "chatgate_tool_servers_live") == 0
    assert value(after, "chatgate_chats_in_flight") == 0
    assert value(after, "chatgate_admission_slots_in_use") == 0
    assert value(after, "chatgate_admission_slots_limit") == app.settings.max_concurrent_sessions
    assert value(after, "chatgate_draining") == 0


def test_failed_chats_count_by_code_and_model_errors_by_kind(app: LiveApp) -> None:
    def time_out(call: ModelCall) -> object:
        raise openai.APITimeoutError(request=httpx.Request("POST", "http://127.0.0.1/v1/responses"))

    before = scrape(app.url)
    app.model.policy = time_out
    response = chat(app)
    assert response.status_code == 502
    after = scrape(app.url)
    assert (
        value(after, "chatgate_chats_total", outcome="failed", code="model_error", mode="json")
        - value(before, "chatgate_chats_total", outcome="failed", code="model_error", mode="json")
        == 1
    )
    assert (
        value(after, "chatgate_model_errors_total", kind="timeout")
        - value(before, "chatgate_model_errors_total", kind="timeout")
        == 1
    )


def test_refused_chats_are_counted_with_their_code(app: LiveApp) -> None:
    before = scrape(app.url)
    app.model.policy = answer("hi")
    mine = chat(app, user="owner-a").json()["conversation_id"]
    foreign = httpx.post(
        f"{app.url}/api/agents/chat",
        json={"message": "hi", "conversation_id": mine},
        headers=auth("intruder-b"),
        timeout=60,
    )
    assert foreign.status_code == 404
    after = scrape(app.url)
    key = {"outcome": "refused", "code": "not_found", "mode": "json"}
    assert value(after, "chatgate_chats_total", **key) - value(before, "chatgate_chats_total", **key) == 1


def test_auth_failures_are_counted_by_reason(app: LiveApp) -> None:
    before = scrape(app.url)
    url = f"{app.url}/api/agents/conversations"
    assert httpx.get(url, timeout=30).status_code == 401
    assert (
        httpx.get(url, headers={"Authorization": f"Bearer {mint(ttl=-3600)}"}, timeout=30).status_code == 401
    )
    forged = mint(secret="another-secret-" + "x" * 40)
    assert httpx.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=30).status_code == 401
    after = scrape(app.url)
    for reason in ("missing_token", "expired", "signature"):
        assert (
            value(after, "chatgate_auth_failures_total", reason=reason)
            - value(before, "chatgate_auth_failures_total", reason=reason)
            == 1
        ), reason


def test_no_user_id_token_or_message_text_reaches_the_metrics(app: LiveApp) -> None:
    user, message = "user-7f3a9c-distinctive", "confidential-words-1b2c"
    app.model.policy = call_then_report([("whoami", {})])
    token = mint(user)
    response = httpx.post(
        f"{app.url}/api/agents/chat",
        json={"message": message},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200
    conversation = response.json()["conversation_id"]
    text = httpx.get(f"{app.url}/metrics", timeout=30).text
    for secret in (user, message, token, conversation, response.headers["x-request-id"]):
        assert secret not in text


def test_each_app_has_its_own_registry(tmp_path: Path, app: LiveApp) -> None:
    server, other = start_live_app(tmp_path, MCP_LAUNCHER="exec")
    with server:
        samples = scrape(other.url)
    assert value(samples, "chatgate_chats_total", outcome="completed", code="none", mode="json") == 0
    assert value(scrape(app.url), "chatgate_chats_total", outcome="completed", code="none", mode="json") > 0


def test_metrics_port_keeps_metrics_off_the_api_listener(tmp_path: Path) -> None:
    port = free_port()
    server, app = start_live_app(tmp_path, MCP_LAUNCHER="exec", METRICS_PORT=port, METRICS_TOKEN="scrape-me")
    with server:
        assert httpx.get(f"{app.url}/metrics", timeout=30).status_code == 404
        separate = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{separate}/metrics", timeout=30).status_code == 401
        wrong = httpx.get(f"{separate}/metrics", headers={"Authorization": "Bearer nope"}, timeout=30)
        assert wrong.status_code == 401
        samples = scrape(separate, Authorization="Bearer scrape-me")
        assert ("chatgate_build_info", frozenset({("version", "0.1.0")})) in samples
    # The listener is closed with the app.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{separate}/metrics", timeout=5)


@pytest.mark.parametrize(
    ("env", "status"),
    [
        ({"CHATGATE_ENV": "production"}, 404),  # production: never public without a token
        ({"CHATGATE_ENV": "production", "METRICS_TOKEN": "t0ken"}, 401),
        ({"METRICS_ENABLED": "false"}, 404),
    ],
)
def test_metrics_exposure_on_the_api_listener(tmp_path: Path, env: dict[str, str], status: int) -> None:
    server, app = start_live_app(tmp_path, MCP_LAUNCHER="exec", **env)
    with server:
        response = httpx.get(f"{app.url}/metrics", timeout=30)
        assert response.status_code == status
        assert response.json()["error"]["code"] in {"not_found", "missing_token"}
        if "METRICS_TOKEN" in env:
            assert scrape(app.url, Authorization="Bearer t0ken")


def test_jwks_fetches_and_outages_are_counted(tmp_path: Path) -> None:
    jwks = JwksServer()
    kid = jwks.add("EdDSA")
    with ThreadedServer(jwks.app) as issuer:
        server, app = start_live_app(
            tmp_path / "up", MCP_LAUNCHER="exec", JWT_SECRET="", JWKS_URL=f"{issuer.url}/jwks"
        )
        with server:
            headers = {"Authorization": f"Bearer {jwks.sign(kid)}"}
            assert (
                httpx.get(f"{app.url}/api/agents/conversations", headers=headers, timeout=30).status_code
                == 200
            )
            samples = scrape(app.url)
            assert value(samples, "chatgate_jwks_fetches_total", result="ok") == 1
            assert value(samples, "chatgate_jwks_fetches_total", result="failed") == 0
    dead = f"http://127.0.0.1:{free_port()}/jwks"
    server, app = start_live_app(tmp_path / "down", MCP_LAUNCHER="exec", JWT_SECRET="", JWKS_URL=dead)
    with server:
        headers = {"Authorization": f"Bearer {jwks.sign(kid)}"}
        response = httpx.get(f"{app.url}/api/agents/conversations", headers=headers, timeout=30)
        assert response.status_code == 503
        samples = scrape(app.url)
        assert value(samples, "chatgate_jwks_fetches_total", result="failed") == 1
        assert value(samples, "chatgate_auth_failures_total", reason="jwks_unavailable") == 1


def test_model_endpoint_errors_are_counted_by_kind(tmp_path: Path, scripted_openai: ScriptedOpenAI) -> None:
    from chatgate.main import create_app
    from support.settings import make_settings

    scripted_openai.script = lambda _messages: WireReply(status=503)
    settings = make_settings(
        tmp_path, MCP_LAUNCHER="exec", OPENAI_BASE_URL=scripted_openai.base_url, AGENT_MODEL="scripted"
    )
    with ThreadedServer(create_app(settings)) as server:
        response = httpx.post(
            f"{server.url}/api/agents/chat", json={"message": "hi"}, headers=auth(), timeout=60
        )
        assert response.status_code == 502
        samples = parse(httpx.get(f"{server.url}/metrics", timeout=30).text)
    assert value(samples, "chatgate_model_errors_total", kind="server_error") >= 1
    assert value(samples, "chatgate_chats_total", outcome="failed", code="model_error", mode="json") == 1
