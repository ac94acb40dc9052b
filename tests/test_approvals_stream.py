"""Tool approvals in the UI message stream (issue 14): the approval request, the `useChat`
continuation, denied calls, progress parts, and the real AI SDK client (tests/node) driving it all.

An operator toolset tool declared `needs_approval=True` (`tests/approval_project`) pauses the run; it
reports progress with `ctx.report_progress` when it runs. Both launchers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from agents.testing import ModelCall, assistant_message, function_call

from chatgate.approvals.resume import DENIED_TEXT
from support.live_app import LiveApp, start_live_app
from support.models import tool_outputs
from support.node import run_node_script
from support.processes import tool_server_children, wait_until
from support.tokens import auth, mint
from support.ui_stream import parse_sse
from test_streaming_ai_sdk import node_client, validate  # noqa: F401 - the fixture

PROJECT = Path(__file__).parent / "approval_project"


def sweep_policy(call: ModelCall) -> Any:
    done = tool_outputs(call)
    if not done:
        return [
            assistant_message("Sweeping."),
            function_call("chores_sweep", {"rooms": 3}, call_id="call_sweep"),
        ]
    return [assistant_message(f"Result: {done[-1]}")]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, launcher_name: str) -> Iterator[LiveApp]:
    state = tmp_path_factory.mktemp("approvals-stream")
    config = state / "chatgate.toml"
    config.write_text(f'[[toolsets]]\nmodule = "approval_chores.tools"\npath = "{PROJECT}"\n')
    server, live = start_live_app(state, MCP_LAUNCHER=launcher_name, CHATGATE_CONFIG=str(config))
    live.model.policy = sweep_policy
    with server:
        yield live


def post(app: LiveApp, user: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = httpx.post(f"{app.url}/api/agents/chat", json=body, headers=auth(user), timeout=60)
    assert response.status_code == 200, response.text
    chunks, _ = parse_sse(response.text)
    return chunks


def ask(app: LiveApp, user: str, chat_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A `useChat` message that makes the model call the tool: the chunks, and the user message."""
    user_message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "sweep please"}]}
    body = {"id": chat_id, "messages": [user_message], "trigger": "submit-message"}
    return post(app, user, body), user_message


def answer_body(
    chat_id: str, user_message: dict[str, Any], chunks: list[dict[str, Any]], approved: bool
) -> Any:
    """The continuation AI SDK 7 sends after `addToolApprovalResponse` (built the way it builds it)."""
    message_id = chunks[0]["messageId"]
    (request,) = [chunk for chunk in chunks if chunk["type"] == "tool-approval-request"]
    part = {
        "type": "dynamic-tool",
        "toolName": "chores_sweep",
        "toolCallId": request["toolCallId"],
        "state": "approval-responded",
        "input": {"rooms": 3},
        "approval": {
            "id": request["approvalId"],
            "approved": approved,
            "reason": "no" if not approved else None,
        },
    }
    assistant = {"id": message_id, "role": "assistant", "parts": [{"type": "step-start"}, part]}
    return {
        "id": chat_id,
        "messages": [user_message, assistant],
        "trigger": "submit-message",
        "messageId": message_id,
    }


def test_stream_pauses_then_resumes_with_progress(app: LiveApp, tmp_path: Path) -> None:
    user, chat_id = f"sweeper-{tmp_path.name}", f"chat-{tmp_path.name}"
    chunks, user_message = ask(app, user, chat_id)
    kinds = [chunk["type"] for chunk in chunks]
    # The call is announced, then its approval requested; the step and the message end there.
    assert kinds[-4:] == ["tool-input-available", "tool-approval-request", "finish-step", "finish"]
    request = chunks[-3]
    assert request["toolCallId"] == "call_sweep" and request["approvalId"].startswith("apr_")
    assert set(request) == {"type", "approvalId", "toolCallId"}
    # No process waits for the user.
    assert wait_until(lambda: not tool_server_children(), timeout=60)

    resumed = post(app, user, answer_body(chat_id, user_message, chunks, approved=True))
    assert resumed[0] == {"type": "start", "messageId": chunks[0]["messageId"]}  # the same message goes on
    progress = [chunk["data"] for chunk in resumed if chunk["type"] == "data-tool-progress"]
    assert progress == [
        {"toolCallId": "call_sweep", "progress": float(done), "total": 3.0, "message": f"room {done}"}
        for done in (1, 2, 3)
    ]
    assert all(chunk.get("transient") is True for chunk in resumed if chunk["type"] == "data-tool-progress")
    (output,) = [chunk for chunk in resumed if chunk["type"] == "tool-output-available"]
    assert output == {
        "type": "tool-output-available",
        "toolCallId": "call_sweep",
        "output": {"swept": 3},
        "dynamic": True,
    }
    last_progress = max(i for i, chunk in enumerate(resumed) if chunk["type"] == "data-tool-progress")
    assert last_progress < resumed.index(output)
    text = "".join(chunk["delta"] for chunk in resumed if chunk["type"] == "text-delta")
    assert json.loads(text.removeprefix("Result: ")) == {"swept": 3}
    assert resumed[-1]["type"] == "finish"


def test_stream_denied_call(app: LiveApp, tmp_path: Path) -> None:
    user, chat_id = f"sweeper-{tmp_path.name}", f"chat-{tmp_path.name}"
    chunks, user_message = ask(app, user, chat_id)
    resumed = post(app, user, answer_body(chat_id, user_message, chunks, approved=False))
    assert {"type": "tool-output-denied", "toolCallId": "call_sweep"} in resumed
    assert not [
        chunk for chunk in resumed if chunk["type"] in ("tool-output-available", "data-tool-progress")
    ]
    text = "".join(chunk["delta"] for chunk in resumed if chunk["type"] == "text-delta")
    assert text == f"Result: {DENIED_TEXT} Their reason: no"


def drive(node: Path, app: LiveApp, flavor: str, chat_id: str, verdict: str) -> dict[str, Any]:
    result: dict[str, Any] = run_node_script(
        node,
        "drive-approval.mjs",
        flavor,
        f"{app.url}/api/agents/chat",
        mint("sdk-approver"),
        chat_id,
        "sweep please",
        verdict,
        timeout=180,
    )
    return result


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["ai6", "ai7"])
@pytest.mark.parametrize("verdict", ["approve", "deny"])
def test_ai_sdk_client_approves_and_denies(
    node_client: Path,  # noqa: F811 - the fixture
    app: LiveApp,
    flavor: str,
    verdict: str,
) -> None:
    result = drive(node_client, app, flavor, f"sdk-{flavor}-{verdict}", verdict)
    first, second = result["requests"]
    assert first["trigger"] == "submit-message"
    # The client's own continuation: the assistant message that asked, with the answered part.
    assistant = result["messages"][-1]
    assert second["trigger"] == "submit-message" and second["messageId"] == assistant["id"]
    (sent,) = [part for part in second["messages"][-1]["parts"] if part.get("state") == "approval-responded"]
    assert sent["approval"]["approved"] is (verdict == "approve")
    (tool,) = [part for part in assistant["parts"] if part.get("toolCallId") == "call_sweep"]
    texts = "".join(part["text"] for part in assistant["parts"] if part["type"] == "text")
    if verdict == "approve":
        assert tool["state"] == "output-available" and tool["output"] == {"swept": 3}
        assert [part["data"]["progress"] for part in result["data"]] == [1, 2, 3]
        assert json.loads(texts.split("Result: ")[-1]) == {"swept": 3}
    else:
        assert tool["state"] == "output-denied"
        assert result["data"] == []
        assert DENIED_TEXT in texts


@pytest.mark.node
@pytest.mark.parametrize("approved", [True, False])
def test_restored_thread_shows_the_answered_approval(
    node_client: Path,  # noqa: F811 - the fixture
    app: LiveApp,
    tmp_path: Path,
    approved: bool,
) -> None:
    user, chat_id = f"sweeper-{tmp_path.name}", f"chat-{tmp_path.name}"
    chunks, user_message = ask(app, user, chat_id)
    (request,) = [chunk for chunk in chunks if chunk["type"] == "tool-approval-request"]
    post(app, user, answer_body(chat_id, user_message, chunks, approved=approved))
    url = f"{app.url}/api/agents/conversations/{chat_id}/messages"
    thread = httpx.get(url, headers=auth(user), timeout=30).json()
    (tool,) = [
        part for m in thread["messages"] for part in m["parts"] if part.get("toolCallId") == "call_sweep"
    ]
    if approved:
        assert tool["state"] == "output-available" and tool["output"] == {"swept": 3}
        assert tool["approval"] == {"id": request["approvalId"], "approved": True}
    else:
        # As the AI SDK shows a denied call (not `output-error`): no output, the user's answer.
        assert tool["state"] == "output-denied" and "output" not in tool and "errorText" not in tool
        assert tool["approval"] == {"id": request["approvalId"], "approved": False, "reason": "no"}
    for flavor in ("ai6", "ai7"):  # approvals exist since AI SDK 6
        validated = validate(node_client, flavor, thread)
        (checked,) = [
            part for m in validated for part in m["parts"] if part.get("toolCallId") == "call_sweep"
        ]
        assert checked["state"] == tool["state"] and checked["approval"] == tool["approval"]


def test_stream_retry_after_a_failed_resume_replays_the_output(app: LiveApp, tmp_path: Path) -> None:
    user, chat_id = f"sweeper-{tmp_path.name}", f"chat-{tmp_path.name}"
    chunks, user_message = ask(app, user, chat_id)
    body = answer_body(chat_id, user_message, chunks, approved=True)

    def fails_after_the_sweep(call: ModelCall) -> Any:
        if tool_outputs(call):
            return openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/responses"))
        return sweep_policy(call)

    app.model.policy = fails_after_the_sweep
    try:
        failed = post(app, user, body)
    finally:
        app.model.policy = sweep_policy
    assert failed[-1]["type"] == "error"
    assert [chunk["data"]["progress"] for chunk in failed if chunk["type"] == "data-tool-progress"] == [
        1,
        2,
        3,
    ]

    # `useChat` sends the same continuation again: the sweep is not run again (no progress), its
    # stored output is the call's output, and the answer goes on.
    retried = post(app, user, body)
    assert not [chunk for chunk in retried if chunk["type"] == "data-tool-progress"]
    (output,) = [chunk for chunk in retried if chunk["type"] == "tool-output-available"]
    assert output["toolCallId"] == "call_sweep" and output["output"] == {"swept": 3}
    assert retried[-1]["type"] == "finish"
