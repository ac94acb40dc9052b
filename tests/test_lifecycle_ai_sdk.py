"""Regenerate and edit sent by the AI SDK's own Chat class (what `useChat` runs; AI SDK 5, 6 and 7):
the body it sends for `regenerate()` and `sendMessage({ text, messageId })` is understood, the model
sees each question once, and the stored thread is the one the client shows."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import ModelCall, assistant_message

from support.live_app import LiveApp, start_live_app
from support.node import NODE_DIR
from support.threads import thread
from support.tokens import mint
from test_streaming_ai_sdk import FLAVORS, node_client  # noqa: F401 - `node_client` is a fixture

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    server, live = start_live_app(tmp_path_factory.mktemp("lifecycle-sdk"), MCP_LAUNCHER="fork")
    with server:
        yield live


def user_texts(call: ModelCall) -> list[str]:
    items = call.input if isinstance(call.input, list) else []
    return [str(item["content"]) for item in items if isinstance(item, dict) and item.get("role") == "user"]


def shown(message: dict[str, Any]) -> tuple[str, str, str]:
    text = "".join(part.get("text", "") for part in message["parts"] if part["type"] == "text")
    return message["role"], message["id"], text


@pytest.mark.parametrize("flavor", FLAVORS)
def test_regenerate_and_edit_from_the_sdk(node_client: Path, app: LiveApp, flavor: str) -> None:  # noqa: F811
    asked: list[list[str]] = []
    lock = threading.Lock()

    def policy(call: ModelCall) -> Any:
        with lock:
            asked.append(user_texts(call))
            return [assistant_message(f"answer {len(asked)}")]

    app.model.policy = policy
    user, chat_id = f"sdk-{flavor}", uuid.uuid4().hex
    command = [
        str(node_client),
        "drive-lifecycle.mjs",
        flavor,
        f"{app.url}/api/agents/chat",
        mint(user),
        chat_id,
    ]
    done = subprocess.run(command, cwd=NODE_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = [json.loads(line) for line in done.stdout.splitlines()]
    assert asked == [
        ["question 1"],
        ["question 1", "question 2"],
        ["question 1", "question 2"],  # regenerate: question 2 once, answer 2 gone
        ["question one, edited"],  # edit: everything from question 1 on replaced
    ]
    after_regenerate, after_edit = steps[2], steps[3]
    assert [m[2] for m in map(shown, after_regenerate)] == [
        "question 1",
        "answer 1",
        "question 2",
        "answer 3",
    ]
    assert [m[2] for m in map(shown, after_edit)] == ["question one, edited", "answer 4"]
    # The stored thread is what the client shows, ids included.
    stored = thread(app, user, chat_id).json()["messages"]
    assert [shown(m) for m in stored] == [shown(m) for m in after_edit]
