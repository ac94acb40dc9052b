"""The stream as the real AI SDK client parses it, and restored threads as it validates them (AI SDK 5,
6 and 7, installed from npm at test time from tests/node's package.json and lockfile)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents.testing import assistant_message, function_call

from support.live_app import LiveApp, start_live_app
from support.models import tool_outputs, turn_outputs
from support.node import install_node_packages, run_node_script
from support.tokens import auth, mint

FLAVORS = ["ai5", "ai6", "ai7"]  # npm aliases of `ai` 5, 6 and 7 (tests/node/package.json)

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def node_client() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are not installed; the AI SDK client check needs them")
    failure = install_node_packages(npm, FLAVORS, timeout=300)
    if failure is not None:
        pytest.fail(f"npm ci failed (the npm registry must be reachable):\n{failure}")
    return Path(node)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, launcher_name: str) -> Iterator[LiveApp]:
    server, live = start_live_app(tmp_path_factory.mktemp("ai-sdk"), MCP_LAUNCHER=launcher_name)
    with server:
        yield live


def drive(
    node: Path, app: LiveApp, flavor: str, chat_id: str, user_message_id: str = "user-1"
) -> dict[str, Any]:
    message: dict[str, Any] = run_node_script(
        node,
        "drive-stream.mjs",
        flavor,
        f"{app.url}/api/agents/chat",
        mint("sdk-user"),
        chat_id,
        "Who am I?",
        user_message_id,
    )
    return message


def policy(call: Any) -> Any:
    done = tool_outputs(call)
    if not done:
        return [assistant_message("Let me look."), function_call("whoami", {}, call_id="call_sdk")]
    return [assistant_message(f"You are {json.loads(done[0])['user_id']}.")]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_ai_sdk_client_assembles_text_and_tool_parts(node_client: Path, app: LiveApp, flavor: str) -> None:
    app.model.policy = policy
    message = drive(node_client, app, flavor, f"chat{flavor}")
    assert message["role"] == "assistant"
    parts = message["parts"]
    texts = [part["text"] for part in parts if part["type"] == "text"]
    assert "".join(texts) == "Let me look.You are sdk-user."
    (tool,) = [part for part in parts if part["type"] == "dynamic-tool"]
    assert tool["toolName"] == "whoami" and tool["toolCallId"] == "call_sdk"
    assert tool["state"] == "output-available"
    assert tool["output"] == {"user_id": "sdk-user"}
    assert sum(1 for part in parts if part["type"] == "step-start") == 2


def validate(node: Path, flavor: str, thread: dict[str, Any]) -> list[dict[str, Any]]:
    """The thread through the real package's `validateUIMessages` (and `convertToModelMessages`)."""
    validated: list[dict[str, Any]] = run_node_script(
        node, "validate-thread.mjs", flavor, stdin=json.dumps(thread)
    )
    return validated


def failing_tool(call: Any) -> Any:
    if not turn_outputs(call):
        return [function_call("whoami", {"user_id": "mallory"}, call_id="call_bad")]
    return [assistant_message("That did not work.")]


def shown(part: dict[str, Any]) -> dict[str, Any]:
    """A part as a user sees it: without the client's bookkeeping (`state` of a finished text)."""
    return {key: value for key, value in part.items() if not (part["type"] == "text" and key == "state")}


@pytest.mark.parametrize("flavor", FLAVORS)
def test_restored_thread_is_what_the_client_streamed_and_validates(
    node_client: Path, app: LiveApp, flavor: str
) -> None:
    """Two streamed turns (a tool that works, a tool that fails), then the thread read back: the
    real `ai` package accepts it unchanged, and it holds the messages the client assembled while
    streaming, under the same ids."""
    chat_id = f"thread{flavor}"
    app.model.policy = policy
    first = drive(node_client, app, flavor, chat_id, "user-a")
    app.model.policy = failing_tool
    second = drive(node_client, app, flavor, chat_id, "user-b")
    (error,) = [part for part in second["parts"] if part["type"] == "dynamic-tool"]
    assert error["state"] == "output-error" and "unknown argument" in error["errorText"]

    response = httpx.get(
        f"{app.url}/api/agents/conversations/{chat_id}/messages", headers=auth("sdk-user"), timeout=30
    )
    assert response.status_code == 200, response.text
    thread = response.json()
    assert validate(node_client, flavor, thread) == thread["messages"]  # nothing unknown to the SDK
    messages = thread["messages"]
    assert [(m["id"], m["role"]) for m in messages] == [
        ("user-a", "user"),
        (first["id"], "assistant"),
        ("user-b", "user"),
        (second["id"], "assistant"),
    ]
    assert messages[0]["parts"] == [{"type": "text", "text": "Who am I?"}]
    for restored, streamed in ((messages[1], first), (messages[3], second)):
        assert restored["parts"] == [shown(part) for part in streamed["parts"]]
        assert set(restored["metadata"]) == {"created_at"}  # finished answers: not interrupted
