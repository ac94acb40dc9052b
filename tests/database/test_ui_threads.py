"""Threads as the AI SDK's `UIMessage` list (`GET /api/agents/conversations/{id}/messages`), through
the real endpoint with real tool servers, on each launcher and each storage backend."""

from __future__ import annotations

import asyncio
import datetime
import json
import threading
import uuid
from typing import Any

import httpx
import pytest
from agents.testing import ModelCall, assistant_message, function_call

from chatgate.conversations.history import ConversationSession
from chatgate.conversations.models import ConversationRun
from chatgate.conversations.store import ConversationStore
from chatgate.storage import create_engine
from database.conftest import new_user
from support.live_app import LiveApp, leave_stream_at
from support.models import answer, stalls_mid_text, turn_outputs, until_set
from support.processes import tool_server_children, wait_until
from support.threads import chat, thread, use_chat_body
from support.tokens import auth
from support.ui_stream import parse_sse


@pytest.fixture
def app(thread_app: LiveApp) -> LiveApp:
    return thread_app


def who_then_fail_then_answer(call: ModelCall) -> Any:
    """One model call asks two tools (one fails: an argument no tool takes), the next answers."""
    if not turn_outputs(call):
        return [
            assistant_message("Checking."),
            function_call("whoami", {}, call_id="call_ok"),
            function_call("whoami", {"user_id": "mallory"}, call_id="call_bad"),
        ]
    return [assistant_message("Done.")]


def test_json_and_streamed_turns_restore_with_their_ids_steps_and_tool_errors(app: LiveApp) -> None:
    user, cid = new_user("thread"), uuid.uuid4().hex
    app.model.policy = who_then_fail_then_answer
    first = chat(app, user, {"message": "who am I?", "conversation_id": cid})
    assert first.status_code == 200, first.text
    answer_id = first.json()["message_id"]
    assert answer_id.startswith("msg_")

    app.model.policy = answer("Still you.")
    response = chat(app, user, {**use_chat_body(cid, "client-id-2", "and now?"), "stream": True})
    chunks, _ = parse_sse(response.text)
    streamed_id = chunks[0]["messageId"]

    body = thread(app, user, cid)
    assert body.status_code == 200, body.text
    messages = body.json()["messages"]
    assert [(m["role"], m["id"]) for m in messages][1:] == [
        ("assistant", answer_id),
        ("user", "client-id-2"),
        ("assistant", streamed_id),
    ]
    assert messages[0]["role"] == "user" and messages[0]["id"].startswith("msg_")  # JSON: a server id
    assert messages[0]["parts"] == [{"type": "text", "text": "who am I?"}]
    assert messages[1]["parts"] == [
        {"type": "step-start"},
        {"type": "text", "text": "Checking."},
        {
            "type": "dynamic-tool",
            "toolName": "whoami",
            "toolCallId": "call_ok",
            "state": "output-available",
            "input": {},
            "output": {"user_id": user},
        },
        {
            "type": "dynamic-tool",
            "toolName": "whoami",
            "toolCallId": "call_bad",
            "state": "output-error",
            "input": {"user_id": "mallory"},
            "errorText": messages[1]["parts"][3]["errorText"],
        },
        {"type": "step-start"},
        {"type": "text", "text": "Done."},
    ]
    assert "unknown argument" in messages[1]["parts"][3]["errorText"]
    assert messages[3]["parts"] == [{"type": "step-start"}, {"type": "text", "text": "Still you."}]
    for message in messages:
        assert set(message["metadata"]) == {"created_at"}
    # Restoring reads; it never changes the thread.
    assert thread(app, user, cid).json()["messages"] == messages


def test_another_users_or_an_unknown_conversation_is_404(app: LiveApp) -> None:
    owner, other, cid = new_user("owner"), new_user("other"), uuid.uuid4().hex
    app.model.policy = answer("private")
    assert chat(app, owner, {"message": "secret", "conversation_id": cid}).status_code == 200
    for user, conversation in ((other, cid), (owner, uuid.uuid4().hex)):
        response = thread(app, user, conversation)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert thread(app, owner, "not a valid id!").status_code == 422


def test_a_resent_message_id_gets_a_fresh_one_and_a_bad_id_is_refused(app: LiveApp) -> None:
    user, cid = new_user("resend"), uuid.uuid4().hex
    app.model.policy = answer("ok")
    for _ in range(2):
        assert chat(app, user, {**use_chat_body(cid, "same-id", "again"), "stream": False}).status_code == 200
    ids = [m["id"] for m in thread(app, user, cid).json()["messages"]]
    assert ids[0] == "same-id" and len(set(ids)) == 4

    for bad in ("x" * 129, "has space", "é"):
        refused = chat(app, user, use_chat_body(uuid.uuid4().hex, bad, "hello"))
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
    assert len(thread(app, user, cid).json()["messages"]) == 4


def test_a_stopped_answer_is_marked_interrupted_under_its_streamed_id(app: LiveApp) -> None:
    user, release = new_user("stopper"), threading.Event()

    async def policy(call: ModelCall) -> Any:
        if not turn_outputs(call):
            return [assistant_message("Looking you up."), function_call("whoami", {}, call_id="call_cut")]
        await until_set(release)
        return [assistant_message("never delivered")]

    app.model.policy = policy
    try:
        cid, seen = leave_stream_at(app, "tool-output-available", "who am I, slowly?", user=user)
        assert wait_until(lambda: not tool_server_children(), timeout=60)
    finally:
        release.set()
    chunks, _ = parse_sse(seen.split("\n\n", 1)[0] + "\n\ndata: [DONE]\n\n")
    streamed_id = chunks[0]["messageId"]
    detail = f"{app.url}/api/agents/conversations/{cid}"
    assert wait_until(
        lambda: not httpx.get(detail, headers=auth(user), timeout=30).json()["running"], timeout=60
    )
    messages = thread(app, user, cid).json()["messages"]
    assert len(messages) == 2, messages
    user_message, stopped = messages
    assert user_message["parts"] == [{"type": "text", "text": "who am I, slowly?"}]
    assert stopped["id"] == streamed_id and stopped["metadata"]["interrupted"] is True
    assert "never delivered" not in json.dumps(stopped)


def test_history_stored_without_ids_gets_stable_derived_ids(app: LiveApp) -> None:
    """Rows written before message ids were stored: ids derived from their rows, the same on every
    read and after new turns; new turns get their real ids."""
    user, cid = new_user("legacy"), uuid.uuid4().hex
    asyncio.run(_store_legacy_history(app.settings.database_url, user, cid))
    before = thread(app, user, cid).json()["messages"]
    assert [m["role"] for m in before] == ["user", "assistant"]
    assert all(m["id"].startswith("item_") for m in before)
    assert before[1]["parts"][1:] == [
        {
            "type": "dynamic-tool",
            "toolName": "whoami",
            "toolCallId": "old_call",
            "state": "output-available",
            "input": {},
            "output": {"user_id": user},
        },
        {"type": "step-start"},
        {"type": "text", "text": "You are you."},
    ]
    app.model.policy = answer("new answer")
    response = chat(app, user, {**use_chat_body(cid, "new-user-id", "new question"), "stream": False})
    after = thread(app, user, cid).json()["messages"]
    assert after[:2] == before
    assert [m["id"] for m in after[2:]] == ["new-user-id", response.json()["message_id"]]


async def _store_legacy_history(url: str, user: str, cid: str) -> None:
    engine = create_engine(url)
    try:
        store = ConversationStore(engine, stale_after=datetime.timedelta(minutes=5))
        await store.claim(user, cid, "legacy", "hello")
        await ConversationSession(cid, engine, history_limit=None, owner=user).add_items(
            [
                {"role": "user", "content": "hello"},
                {"type": "function_call", "call_id": "old_call", "name": "whoami", "arguments": "{}"},
                {
                    "type": "function_call_output",
                    "call_id": "old_call",
                    "output": json.dumps({"user_id": user}),
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "You are you.", "annotations": []}],
                },
            ]
        )
        run = ConversationRun(conversation_id=cid, owner=user, request_id="legacy", outcome="completed")
        await store.finish(user, cid, "legacy", run)
    finally:
        await engine.dispose()


def test_a_stop_mid_text_keeps_what_was_shown_and_the_model_sees_it(app: LiveApp) -> None:
    """Stop while the model is still writing: the text the page showed is stored, marked interrupted,
    restored by the messages endpoint, and sent to the model on the next turn."""
    user, release = new_user("mid-text"), threading.Event()
    seen_next: list[Any] = []

    def policy(call: ModelCall) -> Any:
        items = [item for item in call.input if isinstance(item, dict)]
        if any(item.get("content") == "go on" for item in items):
            seen_next.append(items)  # the turn after the stop
            return [assistant_message("continued")]
        if not turn_outputs(call):
            return [function_call("whoami", {}, call_id="call_seen")]
        return stalls_mid_text("Half an ans", release)

    app.model.policy = policy
    try:
        cid, seen = leave_stream_at(app, "Half an ans", "tell me slowly", user=user)
        assert wait_until(lambda: not tool_server_children(), timeout=60)
    finally:
        release.set()
    detail = f"{app.url}/api/agents/conversations/{cid}"
    assert wait_until(
        lambda: not httpx.get(detail, headers=auth(user), timeout=30).json()["running"], timeout=60
    )
    messages = thread(app, user, cid).json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    stopped = messages[1]
    assert stopped["metadata"]["interrupted"] is True
    kinds = [part["type"] for part in stopped["parts"]]
    assert "dynamic-tool" in kinds and stopped["parts"][-1] == {"type": "text", "text": "Half an ans"}

    response = chat(app, user, {"message": "go on", "conversation_id": cid})
    assert response.status_code == 200, response.text
    answers = [json.dumps(item.get("content")) for item in seen_next[0] if item.get("role") == "assistant"]
    assert any("Half an ans" in content for content in answers)
    questions = [item for item in seen_next[0] if item.get("content") == "tell me slowly"]
    assert len(questions) == 1
