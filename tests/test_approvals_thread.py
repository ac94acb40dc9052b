"""A thread restored while calls wait for approval (issue 14): `GET …/messages` shows each waiting call
as the tool part `useChat` held when the stream asked (state `approval-requested`, `approval: {id}`),
in the answer the paused run continues in, so a reloaded page can show and answer it. Both launchers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents.testing import function_call

from support.live_app import LiveApp
from support.models import tool_outputs
from support.tokens import auth
from test_approvals_stream import app, ask, post, sweep_policy  # noqa: F401 - the fixture
from test_streaming_ai_sdk import node_client, validate  # noqa: F401 - the fixture


def thread(app: LiveApp, user: str, chat_id: str) -> list[dict[str, Any]]:  # noqa: F811
    response = httpx.get(
        f"{app.url}/api/agents/conversations/{chat_id}/messages", headers=auth(user), timeout=30
    )
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def answered(messages: list[dict[str, Any]], approved: bool) -> dict[str, Any]:
    """The continuation `useChat` sends from a restored thread after `addToolApprovalResponse`."""
    sent = copy.deepcopy(messages)
    for part in sent[-1]["parts"]:
        if part.get("state") == "approval-requested":
            part.update(state="approval-responded", approval={**part["approval"], "approved": approved})
    return {"messages": sent, "trigger": "submit-message", "messageId": sent[-1]["id"]}


def test_a_restored_thread_shows_the_waiting_call_and_answers_it(
    app: LiveApp,  # noqa: F811
    tmp_path: Path,
) -> None:
    user, chat_id = f"restorer-{tmp_path.name}", f"chat-{tmp_path.name}"
    chunks, _ = ask(app, user, chat_id)
    (request,) = [chunk for chunk in chunks if chunk["type"] == "tool-approval-request"]

    restored = thread(app, user, chat_id)
    assert [message["role"] for message in restored] == ["user", "assistant"]
    answer = restored[-1]
    assert answer["id"] == chunks[0]["messageId"]  # the message the stream announced
    assert answer["parts"][-1] == {
        "type": "dynamic-tool",
        "toolName": "chores_sweep",
        "toolCallId": "call_sweep",
        "state": "approval-requested",
        "input": {"rooms": 3},
        "approval": {"id": request["approvalId"]},
    }

    resumed = post(app, user, {"id": chat_id, **answered(restored, approved=True)})
    assert resumed[0] == {"type": "start", "messageId": answer["id"]}
    assert {
        "type": "tool-output-available",
        "toolCallId": "call_sweep",
        "output": {"swept": 3},
        "dynamic": True,
    } in resumed
    after = thread(app, user, chat_id)
    assert [message["id"] for message in after] == [message["id"] for message in restored]
    (tool,) = [part for part in after[-1]["parts"] if part["type"] == "dynamic-tool"]
    assert tool["state"] == "output-available" and tool["output"] == {"swept": 3}


def calls_without_text(call: Any) -> Any:
    return (
        sweep_policy(call)
        if tool_outputs(call)
        else [function_call("chores_sweep", {"rooms": 2}, call_id="c2")]
    )


def test_an_answer_that_only_asked_is_restored_under_its_id(
    app: LiveApp,  # noqa: F811
    tmp_path: Path,
) -> None:
    user, chat_id = f"restorer-{tmp_path.name}", f"chat-{tmp_path.name}"
    app.model.policy = calls_without_text
    try:
        chunks, _ = ask(app, user, chat_id)
    finally:
        app.model.policy = sweep_policy
    (request,) = [chunk for chunk in chunks if chunk["type"] == "tool-approval-request"]
    restored = thread(app, user, chat_id)
    assert [message["role"] for message in restored] == ["user", "assistant"]
    assert restored[-1]["id"] == chunks[0]["messageId"]
    assert [part["type"] for part in restored[-1]["parts"]] == ["step-start", "dynamic-tool"]
    assert restored[-1]["parts"][-1]["approval"] == {"id": request["approvalId"]}

    resumed = post(app, user, {"id": chat_id, **answered(restored, approved=False)})
    assert {"type": "tool-output-denied", "toolCallId": "c2"} in resumed
    # No call waits any more; the denied one is shown as the AI SDK shows a denied call.
    parts = [
        part for message in thread(app, user, chat_id) for part in message["parts"] if "approval" in part
    ]
    assert [(part["state"], part["approval"]) for part in parts] == [
        ("output-denied", {"id": request["approvalId"], "approved": False})
    ]


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["ai6", "ai7"])
def test_the_ai_sdk_accepts_a_thread_with_a_waiting_call(
    node_client: Path,  # noqa: F811 - the fixture
    app: LiveApp,  # noqa: F811
    tmp_path: Path,
    flavor: str,
) -> None:
    user, chat_id = f"restorer-{tmp_path.name}", f"chat-{tmp_path.name}"
    ask(app, user, chat_id)
    restored = thread(app, user, chat_id)
    validated = validate(node_client, flavor, {"messages": restored})
    assert validated[-1]["parts"][-1]["state"] == "approval-requested"
