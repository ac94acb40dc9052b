"""Tool approvals end to end over HTTP (issue 14): a scripted model asks to delete the user's records,
the run pauses with no process left, and the user's answer decides exactly what happens.

Each test runs on SQLite and PostgreSQL and with both launchers (`backend`, `launcher_name`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents.testing import ModelCall, assistant_message, function_call

from chatgate.approvals.resume import DENIED_TEXT, EXPIRED_TEXT, SUPERSEDED_TEXT
from chatgate.storage import upgrade_database
from support.live_app import LiveApp, start_live_app
from support.processes import tool_server_children, wait_until
from support.tokens import auth


def _since_last_user(call: ModelCall) -> tuple[str, list[str]]:
    """The last user message the model was sent, and the tool outputs after it."""
    items = call.input if isinstance(call.input, list) else [{"role": "user", "content": call.input}]
    text, outputs = "", []
    for item in items:
        if not isinstance(item, dict):
            continue
        if item.get("role") == "user":
            content = item.get("content")
            text = content if isinstance(content, str) else json.dumps(content)
            outputs = []
        elif item.get("type") == "function_call_output":
            output = item.get("output")
            if isinstance(output, list):
                output = "".join(part.get("text", "") for part in output if isinstance(part, dict))
            outputs.append(str(output))
    return text, outputs


def records_policy(call: ModelCall) -> Any:
    """'create a b c' creates those records; 'delete <id> <id>' deletes them in one step; 'report'
    answers with every tool output of the conversation. After tool outputs: 'done: <outputs>'."""
    text, outputs = _since_last_user(call)
    words = text.split()
    if outputs:
        return [assistant_message("done: " + json.dumps(outputs))]
    if words[0] == "create":
        return [
            function_call("records_create", {"collection": "notes", "data": {"n": word}}, call_id=f"c_{word}")
            for word in words[1:]
        ]
    if words[0] == "delete":
        calls = [
            function_call("records_delete", {"id": rid}, call_id=f"d_{i}") for i, rid in enumerate(words[1:])
        ]
        return [assistant_message("Deleting."), *calls]
    if words[0] == "list":
        return [function_call("records_list", {"collection": "notes"}, call_id="l_0")]
    every = [
        item for item in call.input if isinstance(item, dict) and item.get("type") == "function_call_output"
    ]
    return [assistant_message("report: " + json.dumps([str(item.get("output")) for item in every]))]


@pytest.fixture
def app(database_url: str, backend: str, tmp_path: Path, launcher_name: str) -> Iterator[LiveApp]:
    config = tmp_path / "chatgate.toml"
    config.write_text('[agent]\nrequire_approval = ["records_delete"]\n')
    env: dict[str, Any] = {"MCP_LAUNCHER": launcher_name, "CHATGATE_CONFIG": str(config)}
    if backend == "postgres":
        env["DATABASE_URL"] = database_url
    else:
        asyncio.run(upgrade_database(f"sqlite+aiosqlite:///{(tmp_path / 'chatgate.db').resolve()}"))
    server, live = start_live_app(tmp_path, **env)
    live.model.policy = records_policy
    with server:
        yield live


def chat(app: LiveApp, user: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = httpx.post(f"{app.url}/api/agents/chat", json=body, headers=auth(user), timeout=60)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


def created_ids(app: LiveApp, user: str, conversation: str, *names: str) -> list[str]:
    answer = chat(app, user, {"message": "create " + " ".join(names), "conversation_id": conversation})
    assert answer["status"] == "completed" and answer["approvals"] == []
    return [json.loads(output)["id"] for output in json.loads(answer["response"].removeprefix("done: "))]


def listed(app: LiveApp, user: str, conversation: str) -> list[str]:
    answer = chat(app, user, {"message": "list", "conversation_id": conversation})
    (output,) = json.loads(answer["response"].removeprefix("done: "))
    return [item["data"]["n"] for item in json.loads(output)["items"]]


def test_approve_deny_replay_and_another_user(app: LiveApp, tmp_path: Path) -> None:
    alice, bob, conversation = f"alice-{tmp_path.name}", f"bob-{tmp_path.name}", f"conv-{tmp_path.name}"
    ids = created_ids(app, alice, conversation, "a", "b", "c")

    # Two calls in one step: each gets an approval; the run pauses and no tool server is left.
    paused = chat(app, alice, {"message": f"delete {ids[0]} {ids[1]}", "conversation_id": conversation})
    assert paused["status"] == "awaiting_approval"
    assert paused["response"] == "Deleting."
    assert [(item["tool"], item["arguments"]) for item in paused["approvals"]] == [
        ("records_delete", {"id": ids[0]}),
        ("records_delete", {"id": ids[1]}),
    ]
    first, second = (item["id"] for item in paused["approvals"])
    assert first != second and len(first) > 30
    assert wait_until(lambda: not tool_server_children(), timeout=60)
    detail = httpx.get(f"{app.url}/api/agents/conversations/{conversation}", headers=auth(alice), timeout=30)
    assert [item["id"] for item in detail.json()["pending_approvals"]] == [first, second]

    # Another user cannot answer (their own conversation id or Alice's): 404, nothing changes.
    chat(app, bob, {"message": "hello", "conversation_id": f"bob-{conversation}"})
    for target in (f"bob-{conversation}", conversation):
        refused = chat(
            app, bob, {"conversation_id": target, "approvals": [{"id": first, "approved": True}]}, 404
        )
        assert refused["error"]["code"] == "not_found"
    assert sorted(listed(app, alice, f"{conversation}-check")) == ["a", "b", "c"]  # nothing deleted
    detail = httpx.get(f"{app.url}/api/agents/conversations/{conversation}", headers=auth(alice), timeout=30)
    assert len(detail.json()["pending_approvals"]) == 2

    # One approved, one denied (with a reason): the run resumes in a fresh tool server.
    resumed = chat(
        app,
        alice,
        {
            "conversation_id": conversation,
            "approvals": [
                {"id": first, "approved": True},
                {"id": second, "approved": False, "reason": "keep b"},
            ],
        },
    )
    assert resumed["status"] == "completed" and resumed["approvals"] == []
    outputs = json.loads(resumed["response"].removeprefix("done: "))
    assert json.loads(outputs[0]) == {"deleted": ids[0]}
    assert outputs[1] == f"{DENIED_TEXT} Their reason: keep b"
    assert [(use["name"], use["ok"]) for use in resumed["tools_used"]] == [
        ("records_delete", True),
        ("records_delete", False),
    ]
    assert sorted(listed(app, alice, conversation)) == ["b", "c"]

    # A replayed answer changes nothing and says so.
    replay = chat(
        app, alice, {"conversation_id": conversation, "approvals": [{"id": first, "approved": True}]}, 409
    )
    assert replay["error"]["code"] == "approval_already_answered"
    assert sorted(listed(app, alice, conversation)) == ["b", "c"]


def test_deny_all_then_new_message_supersedes(app: LiveApp, tmp_path: Path) -> None:
    alice, conversation = f"alice-{tmp_path.name}", f"conv-{tmp_path.name}"
    ids = created_ids(app, alice, conversation, "a", "b")
    paused = chat(app, alice, {"message": f"delete {ids[0]}", "conversation_id": conversation})
    (approval,) = paused["approvals"]
    denied = chat(
        app,
        alice,
        {"conversation_id": conversation, "approvals": [{"id": approval["id"], "approved": False}]},
    )
    assert json.loads(denied["response"].removeprefix("done: ")) == [DENIED_TEXT]
    assert sorted(listed(app, alice, conversation)) == ["a", "b"]

    # Pending, then an ordinary message: the call is denied, the model is told, and it answers.
    paused = chat(app, alice, {"message": f"delete {ids[1]}", "conversation_id": conversation})
    assert paused["status"] == "awaiting_approval"
    report = chat(app, alice, {"message": "report", "conversation_id": conversation})
    assert report["status"] == "completed"
    assert json.loads(report["response"].removeprefix("report: "))[-1] == SUPERSEDED_TEXT
    assert sorted(listed(app, alice, conversation)) == ["a", "b"]
    late = {
        "conversation_id": conversation,
        "approvals": [{"id": paused["approvals"][0]["id"], "approved": True}],
    }
    assert chat(app, alice, late, 409)["error"]["code"] == "approval_already_answered"


@pytest.fixture
def short_ttl_app(database_url: str, backend: str, tmp_path: Path, launcher_name: str) -> Iterator[LiveApp]:
    config = tmp_path / "chatgate.toml"
    config.write_text('[agent]\nrequire_approval = "destructive"\n')
    env: dict[str, Any] = {
        "MCP_LAUNCHER": launcher_name,
        "CHATGATE_CONFIG": str(config),
        "APPROVAL_TTL_SECONDS": 2,
    }
    if backend == "postgres":
        env["DATABASE_URL"] = database_url
    else:
        asyncio.run(upgrade_database(f"sqlite+aiosqlite:///{(tmp_path / 'chatgate.db').resolve()}"))
    server, live = start_live_app(tmp_path, **env)
    live.model.policy = records_policy
    with server:
        yield live


def test_expired_approval_counts_as_denied(short_ttl_app: LiveApp, tmp_path: Path) -> None:
    app = short_ttl_app
    alice, conversation = f"alice-{tmp_path.name}", f"conv-{tmp_path.name}"
    (record,) = created_ids(app, alice, conversation, "a")
    paused = chat(app, alice, {"message": f"delete {record}", "conversation_id": conversation})
    (approval,) = paused["approvals"]  # records_delete says destructiveHint: true

    def expired() -> bool:
        url = f"{app.url}/api/agents/conversations/{conversation}"
        return httpx.get(url, headers=auth(alice), timeout=30).json()["pending_approvals"] == []

    assert wait_until(expired, timeout=60, interval=0.2)
    late = chat(
        app, alice, {"conversation_id": conversation, "approvals": [{"id": approval["id"], "approved": True}]}
    )
    assert json.loads(late["response"].removeprefix("done: ")) == [EXPIRED_TEXT]
    assert listed(app, alice, conversation) == ["a"]
