"""The pytest plugin: it loads in this suite beside our own fixtures without a clash, its fixtures work,
and an operator's project uses it with nothing but an ini option."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import httpx
import pytest

import chatgate.testing.plugin
import conftest
from chatgate.testing import (
    ChatgateApp,
    ModelRequest,
    ScriptedModelServer,
    ToolNotFoundError,
    ToolResult,
    answer,
    tool_call,
)
from support.tokens import mint

PLUGIN_FIXTURES = {
    "_chatgate_jwt_secret",
    "chatgate_config",
    "chatgate_env",
    "chatgate_model_server",
    "chatgate_app",
    "scripted_model",
    "token_for",
    "call_tool",
}


def fixture_names(module: ModuleType) -> set[str]:
    return {name for name, value in vars(module).items() if hasattr(value, "_fixture_function_marker")}


def test_the_plugin_loads_here_beside_our_own_fixtures(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.get_plugin("chatgate") is chatgate.testing.plugin
    assert fixture_names(chatgate.testing.plugin) == PLUGIN_FIXTURES
    assert fixture_names(conftest) and not fixture_names(conftest) & PLUGIN_FIXTURES


def test_no_configuration_means_the_built_in_tools(
    chatgate_config: Path | None, chatgate_app: ChatgateApp
) -> None:
    assert chatgate_config is None  # no ini option here, and the suite scrubs CHATGATE_CONFIG
    names = {tool["name"] for tool in chatgate_app.tools("ada")}
    assert {"whoami", "records_create", "files_write", "tasks_create"} <= names


def test_tokens_from_token_for_are_accepted_and_others_are_not(
    chatgate_app: ChatgateApp, token_for: Callable[..., str]
) -> None:
    url = f"{chatgate_app.url}/api/agents/tools"
    good = httpx.get(url, headers={"Authorization": f"Bearer {token_for('ada')}"}, timeout=60)
    assert good.status_code == 200
    forged = mint("ada")  # signed with the suite's own secret, not this app's
    assert httpx.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=60).status_code == 401


def test_a_scripted_chat_reaches_the_tools_and_is_recorded(
    chatgate_app: ChatgateApp, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.steps(tool_call("whoami"))
    result = chatgate_app.chat("ada", "who am I?")
    (whoami,) = json.loads(result["response"])  # after the steps: the turn's tool outputs
    assert json.loads(whoami)["user_id"] == "ada"
    assert result["tools_used"] == [{"name": "whoami", "ok": True}]
    first, second = (ModelRequest(body) for body in scripted_model.requests)
    assert first.user_message == "who am I?" and first.step == 0 and "whoami" in first.tool_names
    assert "tool" in first.instructions  # the agent's instructions reach the model
    assert second.step == 1 and second.tool_outputs == [whoami]


def test_a_streamed_chat_streams_the_scripted_answer(
    chatgate_app: ChatgateApp, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.steps(answer("hello from the script"))
    with httpx.stream(
        "POST",
        f"{chatgate_app.url}/api/agents/chat",
        json={"message": "hi", "stream": True},
        headers=chatgate_app.headers("ada"),
        timeout=60,
    ) as response:
        body = "".join(response.iter_text())
    assert response.status_code == 200
    assert "hello from the script" in body
    assert scripted_model.requests[-1]["stream"] is True


def test_the_scripted_model_starts_each_test_from_the_default(scripted_model: ScriptedModelServer) -> None:
    assert scripted_model.requests == []


def test_call_tool_is_one_call_bound_to_the_user(call_tool: Callable[..., ToolResult]) -> None:
    created = call_tool("ada", "records_create", collection="notes", data={"text": "ada's"})
    assert created.ok and created.json()["data"] == {"text": "ada's"}
    assert call_tool("ada", "records_list", collection="notes").json()["total"] >= 1
    assert call_tool("bob", "records_list", collection="notes").json()["total"] == 0
    assert call_tool("bob", "records_get", id=created.json()["id"]).is_error
    # Arguments the tool does not declare are refused, like the model's would be.
    assert call_tool("bob", "whoami", user_id="ada").is_error
    with pytest.raises(ToolNotFoundError, match="no tool 'read_everyone'"):
        call_tool("ada", "read_everyone")


OPERATOR_TEST = """
from chatgate.testing import assert_isolated, tool_call


def test_the_configuration_comes_from_the_ini_option(chatgate_app):
    names = {tool["name"] for tool in chatgate_app.tools("ada")}
    assert "records_create" in names and "tasks_create" not in names


def test_a_scripted_chat(chatgate_app, scripted_model):
    scripted_model.steps(tool_call("whoami"))
    assert '\\\\"ada\\\\"' in chatgate_app.chat("ada")["response"]


def test_records_are_isolated(chatgate_app):
    assert_isolated(chatgate_app, tools=["records_*"])
"""


def test_an_operator_project_uses_the_plugin_from_its_ini_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "pytest.ini").write_text("[pytest]\nchatgate_config = config/chatgate.toml\n")
    (project / "config" / "chatgate.toml").write_text('[[tables]]\nname = "tasks"\nenabled = false\n')
    (project / "tests" / "test_operator.py").write_text(textwrap.dedent(OPERATOR_TEST))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::pytest.PytestConfigWarning",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else completed.stderr
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    assert "3 passed" in summary
