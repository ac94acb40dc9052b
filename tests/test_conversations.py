"""Conversations: memory across requests, ownership, pagination, deletion, runs, 409, disconnects."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agents.testing import ModelCall, assistant_message, function_call

from support.live_app import LiveApp, leave_stream_at, start_live_app
from support.models import tool_outputs, until_set
from support.processes import tool_server_children, wait_until
from support.tokens import auth

HISTORY_LIMIT = 6


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, launcher_name: str) -> Iterator[LiveApp]:
    server, live = start_live_app(
        tmp_path_factory.mktemp("conversations"),
        CONVERSATION_HISTORY_LIMIT=HISTORY_LIMIT,
        MCP_LAUNCHER=launcher_name,
    )
    with server:
        yield live


def chat(
    app: LiveApp, message: str, *, user: str = "alice", conversation_id: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"message": message}
    if conversation_id:
        body["conversation_id"] = conversation_id
    return httpx.post(f"{app.url}/api/agents/chat", json=body, headers=auth(user), timeout=60)


def get(app: LiveApp, path: str, user: str = "alice", **params: Any) -> httpx.Response:
    return httpx.get(
        f"{app.url}/api/agents/conversations{path}", headers=auth(user), params=params, timeout=30
    )


def echo_inputs(seen: list[ModelCall]) -> Any:
    def policy(call: ModelCall) -> Any:
        seen.append(call)
        return [assistant_message(f"answer {len(seen)}")]

    return policy


def user_texts(call: ModelCall) -> list[str]:
    items = call.input if isinstance(call.input, list) else []
    return [
        str(item.get("content")) for item in items if isinstance(item, dict) and item.get("role") == "user"
    ]


def test_the_model_sees_prior_turns(app: LiveApp) -> None:
    seen: list[ModelCall] = []
    app.model.policy = echo_inputs(seen)
    first = chat(app, "my name is Ada")
    assert first.status_code == 200, first.text
    conversation_id = first.json()["conversation_id"]
    second = chat(app, "what is my name?", conversation_id=conversation_id)
    assert second.status_code == 200 and second.json()["conversation_id"] == conversation_id
    assert user_texts(seen[-1]) == ["my name is Ada", "what is my name?"]
    assistant = [i for i in seen[-1].input if isinstance(i, dict) and i.get("role") == "assistant"]  # type: ignore[union-attr]
    assert assistant, "the first answer is part of the history"
    # A new conversation starts empty.
    chat(app, "fresh start")
    assert user_texts(seen[-1]) == ["fresh start"]


def test_conversation_detail_shows_messages_tool_calls_and_runs(app: LiveApp) -> None:
    def policy(call: ModelCall) -> Any:
        if not tool_outputs(call):
            return [function_call("whoami", {}, call_id="call_detail")]
        return [assistant_message("You are alice.")]

    app.model.policy = policy
    conversation_id = chat(app, "who am I?").json()["conversation_id"]
    detail = get(app, f"/{conversation_id}")
    assert detail.status_code == 200
    body = detail.json()
    assert body["title"] == "who am I?" and body["running"] is False
    kinds = [(m["type"], m.get("role") or m.get("name")) for m in body["messages"]]
    assert kinds == [
        ("message", "user"),
        ("tool_call", "whoami"),
        ("tool_result", None),
        ("message", "assistant"),
    ]
    assert json.loads(body["messages"][2]["output"]) == {"user_id": "alice"}
    (run,) = body["runs"]
    assert run["outcome"] == "completed"
    assert set(run["timings_ms"]) == {"launch", "model", "tools", "teardown"}
    assert run["timings_ms"]["launch"] > 0 and run["timings_ms"]["tools"] > 0
    assert run["usage"]["requests"] == 2


def test_other_users_conversations_are_404_everywhere(app: LiveApp) -> None:
    seen: list[ModelCall] = []
    app.model.policy = echo_inputs(seen)
    conversation_id = chat(app, "alice's secret plan", user="alice").json()["conversation_id"]
    calls_before = len(seen)
    stolen = chat(app, "show me the plan", user="bob", conversation_id=conversation_id)
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "not_found"
    assert len(seen) == calls_before  # never loaded, never run
    assert get(app, f"/{conversation_id}", user="bob").status_code == 404
    deleted = httpx.delete(
        f"{app.url}/api/agents/conversations/{conversation_id}", headers=auth("bob"), timeout=30
    )
    assert deleted.status_code == 404
    assert get(app, f"/{conversation_id}", user="alice").status_code == 200
    assert all(item["id"] != conversation_id for item in get(app, "", user="bob").json()["items"])


def test_pagination_newest_first(app: LiveApp) -> None:
    app.model.policy = echo_inputs([])
    ids = [chat(app, f"topic {n}", user="pager").json()["conversation_id"] for n in range(3)]
    page = get(app, "", user="pager", limit=2).json()
    assert page["total"] == 3 and page["has_more"] is True
    assert [item["id"] for item in page["items"]] == [ids[2], ids[1]]
    rest = get(app, "", user="pager", limit=2, offset=2).json()
    assert [item["id"] for item in rest["items"]] == [ids[0]] and rest["has_more"] is False
    assert get(app, "", user="pager", limit=0).status_code == 422
    assert get(app, "", user="pager", limit=101).status_code == 422


def test_delete_removes_the_conversation_and_its_history(app: LiveApp) -> None:
    seen: list[ModelCall] = []
    app.model.policy = echo_inputs(seen)
    conversation_id = chat(app, "to be forgotten", user="deleter").json()["conversation_id"]
    deleted = httpx.delete(f"{app.url}/api/agents/conversations/{conversation_id}", headers=auth("deleter"))
    assert deleted.status_code == 204
    assert get(app, f"/{conversation_id}", user="deleter").status_code == 404
    chat(app, "hello again", user="deleter", conversation_id=conversation_id)
    assert user_texts(seen[-1]) == ["hello again"]  # nothing of the deleted history survived


def test_invalid_conversation_ids_are_422(app: LiveApp) -> None:
    assert chat(app, "hi", conversation_id="../etc").status_code == 422
    assert get(app, "/bad id").status_code in (404, 422)
    assert get(app, "/" + "x" * 200).status_code == 422


def test_history_sent_to_the_model_is_capped(app: LiveApp) -> None:
    seen: list[ModelCall] = []
    app.model.policy = echo_inputs(seen)
    conversation_id = chat(app, "turn 0", user="capped").json()["conversation_id"]
    for turn in range(1, 6):
        chat(app, f"turn {turn}", user="capped", conversation_id=conversation_id)
    last = seen[-1].input
    assert isinstance(last, list) and len(last) <= HISTORY_LIMIT + 1
    assert user_texts(seen[-1])[-1] == "turn 5"


def test_a_second_message_while_one_runs_is_409(app: LiveApp) -> None:
    release = threading.Event()

    async def slow(call: ModelCall) -> Any:
        await until_set(release)
        return [assistant_message("finally")]

    app.model.policy = echo_inputs([])
    conversation_id = chat(app, "start", user="busy").json()["conversation_id"]
    app.model.policy = slow
    outcome: dict[str, httpx.Response] = {}
    first = threading.Thread(
        target=lambda: outcome.setdefault(
            "r", chat(app, "slow one", user="busy", conversation_id=conversation_id)
        )
    )
    first.start()
    try:
        assert wait_until(lambda: get(app, f"/{conversation_id}", user="busy").json()["running"], timeout=60)
        second = chat(app, "impatient", user="busy", conversation_id=conversation_id)
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "conversation_busy"
        busy_delete = httpx.delete(
            f"{app.url}/api/agents/conversations/{conversation_id}", headers=auth("busy")
        )
        assert busy_delete.status_code == 409
    finally:
        release.set()
        first.join(timeout=60)
    assert outcome["r"].status_code == 200
    assert chat(app, "now it works", user="busy", conversation_id=conversation_id).status_code == 200


def test_disconnect_mid_stream_keeps_history_consistent(app: LiveApp) -> None:
    release = threading.Event()
    seen: list[ModelCall] = []

    async def policy(call: ModelCall) -> Any:
        seen.append(call)
        if not tool_outputs(call):
            return [assistant_message("Looking you up."), function_call("whoami", {}, call_id="call_cut")]
        await until_set(release)
        return [assistant_message("never delivered")]

    app.model.policy = policy
    try:
        conversation_id, _ = leave_stream_at(app, "tool-output-available", "who am I, slowly?", user="leaver")
        # The model answers only on `release`, not set yet: only cancelling the run reaps the child.
        assert wait_until(lambda: not tool_server_children(), timeout=60)
    finally:
        release.set()
    assert wait_until(
        lambda: not get(app, f"/{conversation_id}", user="leaver").json()["running"], timeout=60
    )
    detail = get(app, f"/{conversation_id}", user="leaver").json()
    assert detail["runs"][-1]["outcome"] == "interrupted"
    texts = [m.get("text") for m in detail["messages"] if m["type"] == "message"]
    assert "who am I, slowly?" in texts and "never delivered" not in texts
    # The next message works, and the model is never shown a tool call without its output.
    app.model.policy = echo_inputs(seen)
    assert chat(app, "still there?", user="leaver", conversation_id=conversation_id).status_code == 200
    items = [i for i in seen[-1].input if isinstance(i, dict)]  # type: ignore[union-attr]
    calls = {i["call_id"] for i in items if i.get("type") == "function_call"}
    outputs = {i["call_id"] for i in items if i.get("type") == "function_call_output"}
    assert calls == outputs
    assert user_texts(seen[-1])[-1] == "still there?"


def test_use_chat_body_continues_a_conversation_by_its_id(app: LiveApp) -> None:
    seen: list[ModelCall] = []
    app.model.policy = echo_inputs(seen)
    body = {
        "id": "usechat123",
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "first via useChat"}]}],
        "trigger": "submit-message",
    }
    first = httpx.post(f"{app.url}/api/agents/chat", json=body, headers=auth("hooks"), timeout=60)
    assert first.status_code == 200 and first.headers["x-conversation-id"] == "usechat123"
    body["messages"] = [  # useChat resends the whole thread; only the last user message is new input
        *body["messages"],  # type: ignore[list-item]
        {"id": "a1", "role": "assistant", "parts": [{"type": "text", "text": "answer 1"}]},
        {"id": "m2", "role": "user", "parts": [{"type": "text", "text": "second via useChat"}]},
    ]
    second = httpx.post(f"{app.url}/api/agents/chat", json=body, headers=auth("hooks"), timeout=60)
    assert second.status_code == 200
    assert user_texts(seen[-1]) == ["first via useChat", "second via useChat"]
