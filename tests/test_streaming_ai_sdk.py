"""The stream as the real AI SDK client parses it (AI SDK 5 and 6, installed from npm at test time)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import assistant_message, function_call

from support.live_app import LiveApp, start_live_app
from support.models import tool_outputs
from support.tokens import mint

NODE_DIR = Path(__file__).parent / "node"

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def node_client() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are not installed; the AI SDK client check needs them")
    if not (NODE_DIR / "node_modules" / "ai6").exists() or not (NODE_DIR / "node_modules" / "ai5").exists():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if installed.returncode != 0:
            pytest.fail(f"npm ci failed (the npm registry must be reachable):\n{installed.stderr[-2000:]}")
    return Path(node)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, launcher_name: str) -> Iterator[LiveApp]:
    server, live = start_live_app(tmp_path_factory.mktemp("ai-sdk"), MCP_LAUNCHER=launcher_name)
    with server:
        yield live


def drive(node: Path, app: LiveApp, flavor: str, chat_id: str) -> dict[str, Any]:
    completed = subprocess.run(
        [
            str(node),
            "drive-stream.mjs",
            flavor,
            f"{app.url}/api/agents/chat",
            mint("sdk-user"),
            chat_id,
            "Who am I?",
        ],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    message: dict[str, Any] = json.loads(completed.stdout)
    return message


def policy(call: Any) -> Any:
    done = tool_outputs(call)
    if not done:
        return [assistant_message("Let me look."), function_call("whoami", {}, call_id="call_sdk")]
    return [assistant_message(f"You are {json.loads(done[0])['user_id']}.")]


@pytest.mark.parametrize("flavor", ["ai5", "ai6"])
def test_ai_sdk_client_assembles_text_and_tool_parts(node_client: Path, app: LiveApp, flavor: str) -> None:
    app.model.policy = policy
    message = drive(node_client, app, flavor, f"chat{flavor}")
    assert message["role"] == "assistant"
    parts = message["parts"]
    texts = [part["text"] for part in parts if part["type"] == "text"]
    assert "".join(texts) == "Let me look.You are sdk-user."
    (tool,) = [part for part in parts if part["type"] in ("tool-whoami", "dynamic-tool")]
    assert tool["toolCallId"] == "call_sdk"
    assert tool["state"] == "output-available"
    assert tool["output"] == {"user_id": "sdk-user"}
    assert sum(1 for part in parts if part["type"] == "step-start") == 2
