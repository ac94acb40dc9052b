"""Regenerate and edit (`useChat`'s `trigger`/`messageId`, JSON's `regenerate`/`edit`), through the
real endpoint with real tool servers, on each launcher and each storage backend: what the scripted
model is sent, and what the restored thread shows."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from agents.testing import ModelCall, assistant_message

from database.conftest import new_user
from support.live_app import LiveApp
from support.threads import chat, thread, use_chat_body
from support.ui_stream import parse_sse


class Recorder:
    """A policy answering `answer <n>` to the n-th call, recording what each call was sent."""

    def __init__(self) -> None:
        self.inputs: list[list[tuple[str, str]]] = []
        self._lock = threading.Lock()

    def __call__(self, call: ModelCall) -> Any:
        with self._lock:
            self.inputs.append(_conversation(call))
            return [assistant_message(f"answer {len(self.inputs)}")]


def _conversation(call: ModelCall) -> list[tuple[str, str]]:
    """`(role, text)` of each message the model was sent."""
    seen: list[tuple[str, str]] = []
    for item in call.input if isinstance(call.input, list) else []:
        if isinstance(item, dict) and item.get("role") in ("user", "assistant"):
            content = item.get("content")
            text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content or [])
            seen.append((item["role"], text))
    return seen


@pytest.fixture
def app(thread_app: LiveApp) -> LiveApp:
    return thread_app


@pytest.fixture
def recorder(app: LiveApp) -> Iterator[Recorder]:
    recorder = Recorder()
    app.model.policy = recorder
    yield recorder


def two_turns(app: LiveApp, user: str) -> tuple[str, list[dict[str, Any]]]:
    cid = uuid.uuid4().hex
    for number in (1, 2):
        response = chat(
            app, user, {**use_chat_body(cid, f"q{number}", f"question {number}"), "stream": False}
        )
        assert response.status_code == 200, response.text
    return cid, thread(app, user, cid).json()["messages"]


def texts(messages: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (m["role"], m["id"], "".join(p.get("text", "") for p in m["parts"] if p["type"] == "text"))
        for m in messages
    ]


def regenerate_body(cid: str, messages: list[dict[str, Any]], message_id: str | None) -> dict[str, Any]:
    """What `useChat`'s `regenerate({messageId})` sends: the thread before the answer (AI SDK 5-7)."""
    index = next((i for i, m in enumerate(messages) if m["id"] == message_id), len(messages) - 1)
    kept = messages[:index] if messages[index]["role"] == "assistant" else messages[: index + 1]
    body: dict[str, Any] = {"id": cid, "messages": kept, "trigger": "regenerate-message"}
    if message_id is not None:
        body["messageId"] = message_id
    return body


def test_regenerate_the_last_answer_streams_a_new_one_in_its_place(app: LiveApp, recorder: Recorder) -> None:
    user = new_user("regen")
    cid, before = two_turns(app, user)
    response = chat(app, user, regenerate_body(cid, before, before[3]["id"]))
    assert response.status_code == 200, response.text
    chunks, _ = parse_sse(response.text)
    new_id = chunks[0]["messageId"]
    # The model is asked question 2 once, and never sees the answer it replaces.
    assert recorder.inputs[-1] == [
        ("user", "question 1"),
        ("assistant", "answer 1"),
        ("user", "question 2"),
    ]
    after = texts(thread(app, user, cid).json()["messages"])
    assert after == [*texts(before)[:3], ("assistant", new_id, "answer 3")]
    assert new_id != before[3]["id"]


def test_regenerate_an_earlier_answer_drops_everything_after_it(app: LiveApp, recorder: Recorder) -> None:
    user = new_user("regen-mid")
    cid, before = two_turns(app, user)
    # JSON clients name the answer; useChat without messageId names the question (sent last).
    response = chat(app, user, {"conversation_id": cid, "regenerate": before[1]["id"]})
    assert response.status_code == 200, response.text
    assert recorder.inputs[-1] == [("user", "question 1")]
    after = texts(thread(app, user, cid).json()["messages"])
    assert after == [("user", "q1", "question 1"), ("assistant", response.json()["message_id"], "answer 3")]

    again = chat(
        app, user, {**regenerate_body(cid, thread(app, user, cid).json()["messages"], None), "stream": False}
    )
    assert again.status_code == 200, again.text
    assert recorder.inputs[-1] == [("user", "question 1")]
    assert [m[2] for m in texts(thread(app, user, cid).json()["messages"])] == ["question 1", "answer 4"]


def test_edit_replaces_the_question_and_all_after_it(app: LiveApp, recorder: Recorder) -> None:
    user = new_user("edit")
    cid, before = two_turns(app, user)
    # useChat's sendMessage({text, messageId}): the thread up to the edited message, replaced.
    body = {**use_chat_body(cid, "q1", "question one, edited"), "messageId": "q1", "stream": False}
    response = chat(app, user, body)
    assert response.status_code == 200, response.text
    assert recorder.inputs[-1] == [("user", "question one, edited")]
    after = texts(thread(app, user, cid).json()["messages"])
    assert after == [
        ("user", "q1", "question one, edited"),
        ("assistant", response.json()["message_id"], "answer 3"),
    ]

    json_edit = chat(app, user, {"conversation_id": cid, "edit": "q1", "message": "third try"})
    assert json_edit.status_code == 200, json_edit.text
    assert recorder.inputs[-1] == [("user", "third try")]
    assert [m[:1] + m[2:] for m in texts(thread(app, user, cid).json()["messages"])] == [
        ("user", "third try"),
        ("assistant", "answer 4"),
    ]


def test_unknown_or_foreign_ids_are_404_and_an_answer_is_not_editable(
    app: LiveApp, recorder: Recorder
) -> None:
    user, other = new_user("owner"), new_user("intruder")
    cid, before = two_turns(app, user)
    calls = len(recorder.inputs)
    refused = [
        (user, {"conversation_id": cid, "regenerate": "no-such-message"}, 404, "not_found"),
        (user, {"conversation_id": uuid.uuid4().hex, "regenerate": before[1]["id"]}, 404, "not_found"),
        (other, {"conversation_id": cid, "regenerate": before[1]["id"]}, 404, "not_found"),
        (other, {"conversation_id": cid, "edit": "q1", "message": "mine now"}, 404, "not_found"),
        (user, {**use_chat_body(cid, "q3", "hi"), "messageId": "no-such"}, 404, "not_found"),
        # submit-message naming an answer (without tool approval answers) is not an edit.
        (user, {**use_chat_body(cid, "q3", "hi"), "messageId": before[3]["id"]}, 422, "invalid_request"),
        (user, {"regenerate": before[1]["id"]}, 422, "invalid_request"),
        (user, {"conversation_id": cid, "edit": "q1", "message": "  "}, 422, "invalid_request"),
    ]
    for caller, body, status, code in refused:
        response = chat(app, caller, body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    assert len(recorder.inputs) == calls  # the model was never called
    assert thread(app, user, cid).json()["messages"] == before


def test_a_send_naming_its_own_new_message_is_an_ordinary_send(app: LiveApp, recorder: Recorder) -> None:
    """Some clients (chatgate's playground) send `messageId` with every message: the id of the new
    message itself, not stored yet, is a send; in a new conversation too."""
    user = new_user("own-id")
    cid, before = two_turns(app, user)
    response = chat(app, user, {**use_chat_body(cid, "q3", "question 3"), "messageId": "q3", "stream": False})
    assert response.status_code == 200, response.text
    assert recorder.inputs[-1][-1] == ("user", "question 3") and len(recorder.inputs[-1]) == 5
    assert len(thread(app, user, cid).json()["messages"]) == 6
    fresh = uuid.uuid4().hex
    first = chat(app, user, {**use_chat_body(fresh, "f1", "hello"), "messageId": "f1", "stream": False})
    assert first.status_code == 200, first.text
    assert [m["id"] for m in thread(app, user, fresh).json()["messages"]][0] == "f1"


def test_a_failed_regenerate_keeps_the_question_without_the_old_answer(app: LiveApp) -> None:
    user = new_user("regen-fail")
    app.model.policy = Recorder()
    cid, before = two_turns(app, user)

    def broken(_call: Any) -> Any:
        return openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/responses"))

    app.model.policy = broken
    response = chat(app, user, {"conversation_id": cid, "regenerate": before[3]["id"]})
    assert response.status_code == 502, response.text
    # Documented: the cut is committed with the claim; the question stays, as after any failed turn.
    assert texts(thread(app, user, cid).json()["messages"]) == texts(before)[:3]
    recorder = Recorder()
    app.model.policy = recorder
    retried = chat(app, user, {"conversation_id": cid, "regenerate": "q2"})
    assert retried.status_code == 200, retried.text
    assert recorder.inputs[-1] == [("user", "question 1"), ("assistant", "answer 1"), ("user", "question 2")]
