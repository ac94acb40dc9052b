"""Tool approvals when things go wrong, over HTTP (issue 14): a resumed run that fails keeps its
pause and runs nothing twice when retried; a streamed answer that leaves calls unanswered is refused;
a paused run whose stored state was edited runs nothing; denied calls restore as `output-denied`.

SQLite and PostgreSQL, both launchers (`backend`, `launcher_name`), as `test_approvals_chat`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa
from agents.testing import ModelCall

from chatgate.approvals.resume import DENIED_TEXT
from chatgate.storage import create_engine
from database.test_approvals_chat import _since_last_user, app, chat, created_ids, listed, records_policy
from support.tokens import auth
from support.ui_stream import parse_sse

__all__ = ["app"]  # the fixture, shared with test_approvals_chat


def fails_after_tools(call: ModelCall) -> Any:
    """The model endpoint fails once it is shown tool outputs (after the approved call ran)."""
    if _since_last_user(call)[1]:
        return openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/responses"))
    return records_policy(call)


def test_a_failed_resume_keeps_the_pause_and_a_retry_runs_nothing_twice(app: Any, tmp_path: Path) -> None:
    alice, conversation = f"alice-{tmp_path.name}", f"conv-{tmp_path.name}"
    ids = created_ids(app, alice, conversation, "a", "b", "c")
    paused = chat(app, alice, {"message": f"delete {ids[0]} {ids[1]}", "conversation_id": conversation})
    first, second = (item["id"] for item in paused["approvals"])
    answers = {
        "conversation_id": conversation,
        "approvals": [
            {"id": first, "approved": True},
            {"id": second, "approved": False, "reason": "keep b"},
        ],
    }

    # The approved call runs, then the model fails: a 502, and the pause is kept.
    app.model.policy = fails_after_tools
    assert chat(app, alice, answers, 502)["error"]["code"] == "model_error"
    app.model.policy = records_policy
    assert sorted(listed(app, alice, f"{conversation}-check")) == ["b", "c"]  # it ran, once

    # The same answer again: the run resumes; the call that ran is not sent again (a second delete
    # of that record would fail), the model gets its output, and history holds each call once.
    resumed = chat(app, alice, answers)
    assert resumed["status"] == "completed"
    assert [(use["name"], use["ok"]) for use in resumed["tools_used"]] == [
        ("records_delete", True),
        ("records_delete", False),
    ]
    outputs = json.loads(resumed["response"].removeprefix("done: "))
    assert [json.loads(outputs[0]), outputs[1]] == [
        {"deleted": ids[0]},
        f"{DENIED_TEXT} Their reason: keep b",
    ]
    assert sorted(listed(app, alice, conversation)) == ["b", "c"]
    report = chat(app, alice, {"message": "report", "conversation_id": conversation})
    every = json.loads(report["response"].removeprefix("report: "))
    assert sum(1 for output in every if ids[0] in output and "deleted" in output) == 1

    # Now the run completed: the same answer is a replay.
    assert chat(app, alice, answers, 409)["error"]["code"] == "approval_already_answered"
    # A changed mind after a failure is not a retry either.
    paused = chat(app, alice, {"message": f"delete {ids[2]}", "conversation_id": conversation})
    (third,) = (item["id"] for item in paused["approvals"])
    app.model.policy = fails_after_tools
    retry = {"conversation_id": conversation, "approvals": [{"id": third, "approved": True}]}
    chat(app, alice, retry, 502)
    app.model.policy = records_policy
    changed = {"conversation_id": conversation, "approvals": [{"id": third, "approved": False}]}
    assert chat(app, alice, changed, 409)["error"]["code"] == "approval_already_answered"
    assert json.loads(json.loads(chat(app, alice, retry)["response"].removeprefix("done: "))[0]) == {
        "deleted": ids[2]
    }


def ui_answer(conversation: str, answered: list[tuple[dict[str, Any], bool]]) -> dict[str, Any]:
    """A `useChat` continuation answering the given approvals (`(approval, approved)`)."""
    parts = [
        {
            "type": "dynamic-tool",
            "toolName": approval["tool"],
            "toolCallId": approval["tool_call_id"],
            "state": "approval-responded",
            "input": approval["arguments"],
            "approval": {"id": approval["id"], "approved": approved},
        }
        for approval, approved in answered
    ]
    assistant = {"id": "msg-asking", "role": "assistant", "parts": [{"type": "step-start"}, *parts]}
    user = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "delete"}]}
    return {
        "id": conversation,
        "messages": [user, assistant],
        "trigger": "submit-message",
        "messageId": "msg-asking",
    }


def test_a_streamed_partial_answer_is_refused_and_changes_nothing(app: Any, tmp_path: Path) -> None:
    alice, conversation = f"alice-{tmp_path.name}", f"conv-{tmp_path.name}"
    ids = created_ids(app, alice, conversation, "a", "b")
    paused = chat(app, alice, {"message": f"delete {ids[0]} {ids[1]}", "conversation_id": conversation})
    first, second = paused["approvals"]

    # `useChat` sends once every call is answered; a manual send with one answered is a clear 409.
    refused = chat(app, alice, ui_answer(conversation, [(first, True)]), 409)
    assert refused["error"]["code"] == "approvals_incomplete"
    as_json = {
        "conversation_id": conversation,
        "stream": True,
        "approvals": [{"id": first["id"], "approved": True}],
    }
    assert chat(app, alice, as_json, 409)["error"]["code"] == "approvals_incomplete"
    detail = httpx.get(f"{app.url}/api/agents/conversations/{conversation}", headers=auth(alice), timeout=30)
    assert len(detail.json()["pending_approvals"]) == 2  # nothing was recorded

    response = httpx.post(
        f"{app.url}/api/agents/chat",
        json=ui_answer(conversation, [(first, True), (second, False)]),
        headers=auth(alice),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    chunks, _ = parse_sse(response.text)
    assert {"type": "tool-output-denied", "toolCallId": second["tool_call_id"]} in chunks
    assert sorted(listed(app, alice, conversation)) == ["b"]


def _database(app: Any, tmp_path: Path, backend: str, admin_url: str) -> str:
    return (
        admin_url if backend == "postgres" else f"sqlite+aiosqlite:///{(tmp_path / 'chatgate.db').resolve()}"
    )


async def _edit_state(url: str, conversation: str, edit: Any) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            stored = await connection.scalar(
                sa.text("SELECT state FROM paused_runs WHERE conversation_id = :c"), {"c": conversation}
            )
            await connection.execute(
                sa.text("UPDATE paused_runs SET state = :s WHERE conversation_id = :c"),
                {"s": edit(stored), "c": conversation},
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("tampering", ["arguments", "garbage", "decision"])
def test_an_edited_paused_state_runs_nothing(
    app: Any, tmp_path: Path, backend: str, admin_url: str, tampering: str
) -> None:
    alice, conversation = f"alice-{tmp_path.name}", f"conv-{tmp_path.name}"
    ids = created_ids(app, alice, conversation, "a", "b")
    paused = chat(app, alice, {"message": f"delete {ids[0]}", "conversation_id": conversation})
    (approval,) = paused["approvals"]

    def edit(stored: str) -> str:
        if tampering == "arguments":  # the call now deletes another record than the one shown
            return stored.replace(ids[0], ids[1])
        if tampering == "garbage":
            return stored[: len(stored) // 2]
        state = json.loads(stored)  # a decision smuggled in beside the user's
        state["context"]["approvals"] = {"records_delete": {"approved": True, "rejected": []}}
        return json.dumps(state)

    asyncio.run(_edit_state(_database(app, tmp_path, backend, admin_url), conversation, edit))
    answer = {"conversation_id": conversation, "approvals": [{"id": approval["id"], "approved": True}]}
    refused = chat(app, alice, answer, 409)
    assert refused["error"]["code"] == "approval_state_invalid"
    assert sorted(listed(app, alice, f"{conversation}-check")) == ["a", "b"]  # nothing ran
    # A new message drops the paused run and goes on.
    assert chat(app, alice, {"message": "report", "conversation_id": conversation})["status"] == "completed"
    assert sorted(listed(app, alice, conversation)) == ["a", "b"]
