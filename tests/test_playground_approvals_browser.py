"""The playground's tool approvals in headless Chromium (issue 14): an approval card per waiting call
(tool name, exact arguments, Approve and Deny with a reason), the continuation sent as `useChat` sends
it and answered in the same message, a progress bar while an approved tool runs, and a card restored
after a reload that still works. The harness (and its skips) is tests/test_playground_browser.py's.

The scripted model deletes records (`require_approval = ["records_delete"]`) and mops floors
(`mop_floors` in tests/approval_project: approval needed, progress reported, then it waits until the
browser puts its release file into the user's file space, so the bar is seen without timing).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents.testing import ModelCall, assistant_message, function_call

from chatgate.approvals.resume import DENIED_TEXT
from support.browser import browser_tools  # noqa: F401 - the fixture
from support.live_app import LiveApp, start_live_app
from support.models import turn_outputs
from support.node import run_node_script

PROJECT = Path(__file__).parent / "approval_project"
USER = "alice"


def _last_user_text(call: ModelCall) -> str:
    items = [item for item in call.input if isinstance(item, dict)] if isinstance(call.input, list) else []
    users = [item.get("content") for item in items if item.get("role") == "user"]
    return str(users[-1]) if users else str(call.input)


def policy(call: ModelCall) -> Any:
    """'create a b c' creates records; 'delete <id>' deletes one (after approval); 'mop please' mops
    two rooms; 'list' lists the notes. After tool outputs: 'done: <outputs>'."""
    words = _last_user_text(call).split()
    if outputs := turn_outputs(call):
        return [assistant_message("done: " + json.dumps(outputs))]
    if words[0] == "create":
        return [
            function_call("records_create", {"collection": "notes", "data": {"n": word}}, call_id=f"c_{word}")
            for word in words[1:]
        ]
    if words[0] == "delete":
        return [
            assistant_message("Deleting."),
            function_call("records_delete", {"id": words[1]}, call_id=f"del_{words[1]}"),
        ]
    if words[0] == "mop":
        return [assistant_message("Mopping."), function_call("mop_floors", {"rooms": 2}, call_id="call_mop")]
    return [function_call("records_list", {"collection": "notes"}, call_id="list")]


@pytest.fixture
def approvals_app(tmp_path: Path) -> Iterator[LiveApp]:
    config = tmp_path / "chatgate.toml"
    config.write_text(
        '[agent]\nrequire_approval = ["records_delete"]\n\n'
        f'[[toolsets]]\nmodule = "approval_chores.waiting"\npath = "{PROJECT}"\n'
    )
    server, app = start_live_app(
        tmp_path,
        JWT_SECRET=None,  # dev mode: the page's dev tokens
        MCP_LAUNCHER="exec",
        CHATGATE_CONFIG=str(config),
        MCP_TOOL_TIMEOUT_SECONDS=300,  # the mop waits for the browser, on a loaded machine
    )
    app.model.policy = policy
    with server:
        yield app


class Api:
    """The JSON chat API as the page's user (a dev token, as the page gets one)."""

    def __init__(self, app: LiveApp) -> None:
        minted = httpx.post(f"{app.url}/api/dev/token", json={"user": USER}, timeout=60)
        assert minted.status_code == 200, minted.text
        self.url = app.url
        self.headers = {"Authorization": f"Bearer {minted.json()['token']}"}

    def chat(self, message: str, conversation_id: str) -> dict[str, Any]:
        body = {"message": message, "conversation_id": conversation_id}
        response = httpx.post(f"{self.url}/api/agents/chat", json=body, headers=self.headers, timeout=120)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert answer["status"] == "completed", answer
        return answer

    def outputs(self, message: str, conversation_id: str) -> list[Any]:
        answer = self.chat(message, conversation_id)
        return [json.loads(output) for output in json.loads(answer["response"].removeprefix("done: "))]


def _answered_part(body: dict[str, Any]) -> dict[str, Any]:
    """The one tool part a continuation answers, after checking the body is shaped as AI SDK 7's."""
    assert set(body) == {"id", "messages", "trigger", "messageId"}
    assert body["trigger"] == "submit-message"
    answer = body["messages"][-1]
    assert answer["role"] == "assistant" and answer["id"] == body["messageId"]
    (part,) = [part for part in answer["parts"] if part.get("state") == "approval-responded"]
    assert part["type"] == "dynamic-tool" and set(part) >= {"toolName", "toolCallId", "input", "approval"}
    result: dict[str, Any] = part
    return result


@pytest.mark.timeout(900)  # a browser session of a dozen steps on a loaded machine
def test_approvals_and_progress_in_chromium(
    browser_tools: tuple[Path, Path],  # noqa: F811 - the fixture
    approvals_app: LiveApp,
) -> None:
    node, chromium = browser_tools
    api = Api(approvals_app)
    approve_id, deny_id, reload_id = (item["id"] for item in api.outputs("create a b c", "setup"))
    report = run_node_script(
        node,
        "playground-approvals.mjs",
        str(chromium),
        approvals_app.url,
        USER,
        approve_id,
        deny_id,
        reload_id,
        timeout=720,
    )
    assert report["consoleErrors"] == []
    bodies = report["chatBodies"]
    assert len(bodies) == 8  # four messages, each answered by one continuation

    # The card: the tool, its exact arguments, Approve and Deny; nothing ran yet.
    card = report["approveCard"]
    assert "records_delete" in card["question"]
    assert json.loads(card["arguments"]) == {"id": approve_id}
    assert card["buttons"] == ["Approve", "Deny"]
    # Approved: sent as useChat sends it, answered in the same message with the call's output.
    part = _answered_part(bodies[1])
    assert bodies[1]["messageId"] == card["id"] and bodies[1]["id"] == bodies[0]["id"]
    assert part["toolName"] == "records_delete" and part["input"] == {"id": approve_id}
    assert part["approval"]["approved"] is True and "reason" not in part["approval"]
    approved = report["approved"]
    assert (approved["id"], approved["assistants"]) == (card["id"], card["assistants"])
    assert approved["tools"] == ["records_delete · output-available"]
    assert json.loads(approved["outputs"][0]) == {"deleted": approve_id}
    assert approved["verdicts"] == ["approved"]
    assert approved["texts"][0] == "Deleting." and approved["texts"][-1].startswith("done: ")
    assert approved["cards"] == 0

    # Denied with a reason: the call did not run, the card says so, the model was told why.
    part = _answered_part(bodies[3])
    assert part["approval"]["approved"] is False and part["approval"]["reason"] == "keep it"
    denied = report["denied"]
    assert (denied["id"], denied["assistants"]) == (
        report["denyCard"]["id"],
        report["denyCard"]["assistants"],
    )
    assert denied["tools"] == ["records_delete · output-denied"]
    assert denied["outputs"] == [] and denied["verdicts"] == ["denied: keep it"]
    assert f"{DENIED_TEXT} Their reason: keep it" in denied["texts"][-1]

    # Progress: the bar shows what the tool reported while it runs, and is gone with its output.
    assert report["progress"]["text"] == "1 / 2 · room 1"
    assert report["progress"]["value"] == [1, 2]
    assert report["progress"]["tools"] == ["mop_floors · approval-responded"]
    after = report["afterProgress"]
    assert after["bars"] == 0 and after["tools"] == ["mop_floors · output-available"]
    assert json.loads(after["outputs"][0]) == {"mopped": 2}

    # Reloaded while a card waits: the same card, from the server, and answering it works.
    before, restored = report["beforeReload"], report["restoredCard"]
    assert (restored["id"], restored["assistants"]) == (before["id"], before["assistants"])
    assert json.loads(restored["arguments"]) == {"id": reload_id}
    assert _answered_part(bodies[7])["approval"]["approved"] is True
    assert bodies[7]["messageId"] == before["id"]
    resumed = report["afterRestore"]
    assert (resumed["id"], resumed["assistants"]) == (before["id"], before["assistants"])
    assert resumed["tools"] == ["records_delete · output-available"]
    assert json.loads(resumed["outputs"][0]) == {"deleted": reload_id}

    # Exactly the approved records are gone.
    (listing,) = api.outputs("list", "check")
    assert [item["id"] for item in listing["items"]] == [deny_id]
