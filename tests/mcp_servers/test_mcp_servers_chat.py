"""Operator MCP servers end to end: `[[mcp_servers]]` spawned per chat as the caller, through the HTTP API.

The server is a real stdio process (`support.operator_mcp_server`) that records the environment it
was started with, so the tests assert on what it actually received. Operator servers are spawned by the
API process whatever the launcher, so these run on the default one only (each chat here pays a full
interpreter start for the notes server).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from support.live_app import LiveApp, start_live_app, stream_chat
from support.models import answer, call_then_report, tool_outputs, until_set
from support.operator_mcp import notes_server_entry, toml_string, write_notes_config
from support.processes import tool_server_children, wait_until
from support.tokens import TEST_JWT_SECRET, auth

# What a server may find in its environment besides its entry's own `env`: the MCP SDK's defaults,
# locale, time zone and temp variables, and what the interpreter itself may add (PEP 538).
ALLOWED_INHERITED = {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"}
ALLOWED_INHERITED |= {"LC_CTYPE"}
NOTES_ENV = {"PYTHONPATH", "NOTES_TOKEN", "NOTES_USER", "NOTES_DIR", "NOTES_LEAKY", "NOTES_SEEN"}
NOTES_TOOLS = {"mcp_notes_token", "mcp_notes_add_note", "mcp_notes_list_notes", "mcp_notes_get_note"}
NOTES_TOOLS |= {"mcp_notes_search_notes"}


def _broken_entry() -> str:
    """A server that exits before the handshake, needing no credential: every chat tries it."""
    return "\n".join(
        [
            "[[mcp_servers]]",
            'name = "broken"',
            f"command = {toml_string(sys.executable)}",
            'args = ["-c", "raise SystemExit(3)"]',
            "",
        ]
    )


@pytest.fixture(scope="module")
def seen_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp-seen") / "seen.jsonl"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, seen_log: Path) -> Iterator[LiveApp]:
    state = tmp_path_factory.mktemp("mcp-live")
    config = write_notes_config(state, notes_server_entry(state, seen=seen_log), _broken_entry())
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    server, live = start_live_app(state, CHATGATE_CONFIG=config, CHATGATE_ENCRYPTION_KEY=key)
    with server:
        yield live


def connect(app: LiveApp, user: str, token: str) -> None:
    response = httpx.put(
        f"{app.url}/api/credentials/notes", json={"token": token}, headers=auth(user), timeout=10
    )
    assert response.status_code == 204, response.text


def chat(app: LiveApp, user: str) -> httpx.Response:
    return httpx.post(f"{app.url}/api/agents/chat", json={"message": "go"}, headers=auth(user), timeout=120)


def seen_by(seen_log: Path, user: str) -> list[dict[str, str]]:
    """The environments the notes server was started with for `user`."""
    if not seen_log.exists():
        return []
    lines = [json.loads(line) for line in seen_log.read_text().splitlines() if line]
    return [env for env in lines if env.get("NOTES_USER") == user]


def test_each_caller_gets_their_own_credential_and_no_one_elses(
    app: LiveApp, seen_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Secrets the API process holds while it spawns the servers: none of them may cross over.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-in-a-tool-server")
    monkeypatch.setenv("JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgresql://never-in-a-tool-server")
    connect(app, "alice-cred", "alice-notes-token")
    connect(app, "bob-cred", "bob-notes-token")
    app.model.policy = call_then_report([("mcp_notes_token", {})])

    for user, mine, theirs in (
        ("alice-cred", "alice-notes-token", "bob-notes-token"),
        ("bob-cred", "bob-notes-token", "alice-notes-token"),
    ):
        response = chat(app, user)
        assert response.status_code == 200, response.text
        assert json.loads(json.loads(response.json()["response"])[0]) == {"token": mine}
        assert response.json()["tools_used"] == [{"name": "mcp_notes_token", "ok": True}]
        (env,) = seen_by(seen_log, user)
        assert env["NOTES_TOKEN"] == mine
        everything = json.dumps(env)
        for secret in (theirs, "sk-never-in-a-tool-server", TEST_JWT_SECRET, "never-in-a-tool-server"):
            assert secret not in everything
        assert set(env) <= ALLOWED_INHERITED | NOTES_ENV, set(env) - ALLOWED_INHERITED - NOTES_ENV


def test_caller_without_the_credential_gets_no_server_tools(
    app: LiveApp, seen_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="chatgate.mcp_servers")
    response = httpx.get(f"{app.url}/api/agents/tools", headers=auth("carol-cred"), timeout=120)
    assert response.status_code == 200, response.text
    names = {tool["name"] for tool in response.json()["tools"]}
    assert "whoami" in names
    assert not {name for name in names if name.startswith("mcp_")}
    assert seen_by(seen_log, "carol-cred") == []  # not even started
    assert any(
        "mcp server notes not started" in record.getMessage()
        and "no stored notes credential" in record.getMessage()
        for record in caplog.records
        if record.levelno == logging.DEBUG
    )
    # Calling one anyway finds nothing to call.
    app.model.policy = call_then_report([("mcp_notes_token", {})])
    result = chat(app, "carol-cred")
    assert result.status_code == 200
    assert result.json()["tools_used"] == [{"name": "mcp_notes_token", "ok": False}]


def test_catalog_lists_the_allowed_server_tools_prefixed(app: LiveApp) -> None:
    connect(app, "alice-catalog", "t")
    response = httpx.get(f"{app.url}/api/agents/tools", headers=auth("alice-catalog"), timeout=120)
    tools = {tool["name"]: tool for tool in response.json()["tools"]}
    assert {name for name in tools if name.startswith("mcp_")} == NOTES_TOOLS  # no admin_dump, no broken
    assert tools["mcp_notes_list_notes"]["annotations"]["readOnlyHint"] is True
    assert tools["mcp_notes_add_note"]["annotations"]["readOnlyHint"] is False
    assert tools["mcp_notes_add_note"]["input_schema"]["required"] == ["text"]


def test_a_tool_outside_the_allowlist_cannot_be_called(app: LiveApp) -> None:
    connect(app, "alice-hidden", "t")
    app.model.policy = call_then_report([("mcp_notes_admin_dump", {})])
    response = chat(app, "alice-hidden")
    assert response.status_code == 200
    assert response.json()["tools_used"] == [{"name": "mcp_notes_admin_dump", "ok": False}]
    assert "admin-only" not in response.text


def test_notes_stay_with_their_user(app: LiveApp) -> None:
    for user in ("alice-notes", "bob-notes"):
        connect(app, user, "t")
    app.model.policy = call_then_report([("mcp_notes_add_note", {"text": "alice's secret plan"})])
    assert chat(app, "alice-notes").status_code == 200
    app.model.policy = call_then_report([("mcp_notes_list_notes", {})])
    (alice_list,) = json.loads(chat(app, "alice-notes").json()["response"])
    (bob_list,) = json.loads(chat(app, "bob-notes").json()["response"])
    assert "alice's secret plan" in alice_list
    assert json.loads(bob_list) == {"items": []}


def _server_pids() -> list[int]:
    return [
        child.pid for child in tool_server_children() if "operator_mcp_server" in " ".join(child.cmdline())
    ]


def test_client_disconnect_tears_the_server_down(app: LiveApp) -> None:
    connect(app, "alice-leaves", "t")
    release = threading.Event()

    async def policy(call: Any) -> Any:
        if not tool_outputs(call):
            return call_then_report([("mcp_notes_token", {})])(call)
        await until_set(release, limit_seconds=60)  # the client leaves while the model "thinks"
        return answer("too late")(call)

    app.model.policy = policy
    try:
        with stream_chat(app, user="alice-leaves") as response:
            for line in response.iter_lines():
                if '"tool-output-available"' in line:
                    break  # the server is up and has answered; now hang up
        assert _server_pids()
        assert wait_until(lambda: not tool_server_children(), timeout=20)
    finally:
        release.set()


def test_model_error_after_the_server_started_tears_it_down(app: LiveApp) -> None:
    connect(app, "alice-error", "t")

    def policy(call: Any) -> Any:
        if not tool_outputs(call):
            return call_then_report([("mcp_notes_token", {})])(call)
        return openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/responses"))

    app.model.policy = policy
    response = chat(app, "alice-error")
    assert response.status_code == 502
    assert wait_until(lambda: not tool_server_children(), timeout=20)


def test_a_server_that_cannot_start_is_left_out_of_the_chat(app: LiveApp) -> None:
    app.model.policy = call_then_report([("whoami", {}), ("mcp_broken_anything", {})])
    response = chat(app, "dave-broken")
    assert response.status_code == 200, response.text
    assert response.json()["tools_used"] == [
        {"name": "whoami", "ok": True},
        {"name": "mcp_broken_anything", "ok": False},
    ]
