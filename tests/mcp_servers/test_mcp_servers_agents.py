"""Configured agents' tool allowlists cover operator MCP tools: each agent is offered only its own, a tool
no agent may use is neither listed nor callable. Written with chatgate.testing's fixtures."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from chatgate.testing import ChatgateApp, ModelRequest, ScriptedModelServer, ToolNotFoundError, tool_call
from support.operator_mcp import notes_server_entry, write_notes_config

AGENTS = """
[agent]
name = "assistant"
tools = ["whoami", "mcp_notes_token"]
handoffs = ["keeper"]

[[agents]]
name = "keeper"
handoff_description = "Keeps the user's notes"
instructions = "You keep the user's notes."
tools = ["mcp_notes_add_note", "mcp_notes_list_*"]
"""


@pytest.fixture(scope="module")
def chatgate_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("mcp-agents")
    return write_notes_config(directory, AGENTS, notes_server_entry(directory))


@pytest.fixture
def user(chatgate_app: ChatgateApp) -> str:
    name = f"ada-{uuid.uuid4().hex[:8]}"
    chatgate_app.connect_credential(name, "notes", "ada-token")
    return name


def test_only_tools_some_agent_uses_are_listed_or_callable(chatgate_app: ChatgateApp, user: str) -> None:
    names = {tool["name"] for tool in chatgate_app.tools(user)}
    assert {name for name in names if name.startswith("mcp_")} == {
        "mcp_notes_token",
        "mcp_notes_add_note",
        "mcp_notes_list_notes",
    }
    assert chatgate_app.call_tool(user, "mcp_notes_token").json() == {"token": "ada-token"}
    with pytest.raises(ToolNotFoundError):
        chatgate_app.call_tool(user, "mcp_notes_search_notes", query="x")


def test_each_agent_is_offered_its_own_server_tools(
    chatgate_app: ChatgateApp, scripted_model: ScriptedModelServer, user: str
) -> None:
    scripted_model.steps(tool_call("transfer_to_keeper"), tool_call("mcp_notes_add_note", text="milk"))
    result = chatgate_app.chat(user, "remember milk")
    assert result["agent_used"] == "keeper"
    assert [use["name"] for use in result["tools_used"]][-1:] == ["mcp_notes_add_note"]
    assistant, keeper = (ModelRequest(body) for body in scripted_model.requests[:2])
    assert {"whoami", "mcp_notes_token", "transfer_to_keeper"} <= set(assistant.tool_names)
    assert not {"mcp_notes_add_note", "mcp_notes_list_notes"} & set(assistant.tool_names)
    assert {"mcp_notes_add_note", "mcp_notes_list_notes"} <= set(keeper.tool_names)
    assert "mcp_notes_token" not in keeper.tool_names
    assert chatgate_app.call_tool(user, "mcp_notes_list_notes").json()["items"][0]["text"] == "milk"
