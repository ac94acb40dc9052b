"""End to end through `POST /api/agents/chat`: a scripted model adds, lists and completes tasks for
two users, on each backend, with the real launcher and a real tool process per request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from agents.testing import ModelCall, assistant_message, function_call

from chatgate.storage import upgrade_database
from support.live_app import start_live_app
from support.models import tool_outputs
from support.tokens import auth


def _tasks_policy(call: ModelCall) -> Any:
    """'Add a task to renew my passport by Friday, list my tasks, mark it done.'"""
    done = tool_outputs(call)
    if len(done) == 0:
        arguments = {"title": "Renew passport", "due_date": "2026-11-27", "priority": "high"}
        return [function_call("tasks_create", arguments, call_id="c0")]
    if len(done) == 1:
        return [function_call("tasks_list", {}, call_id="c1")]
    if len(done) == 2:
        created = json.loads(done[0])
        return [function_call("tasks_update", {"id": created["id"], "changes": {"done": True}}, call_id="c2")]
    return [assistant_message(json.dumps(done))]


def _list_then_touch(task_id: str) -> Any:
    def policy(call: ModelCall) -> Any:
        done = tool_outputs(call)
        if len(done) == 0:
            return [function_call("tasks_list", {}, call_id="c0")]
        if len(done) == 1:
            return [function_call("tasks_update", {"id": task_id, "changes": {"done": False}}, call_id="c1")]
        return [assistant_message(json.dumps(done))]

    return policy


def _chat(url: str, user: str, message: str) -> list[str]:
    response = httpx.post(f"{url}/api/agents/chat", json={"message": message}, headers=auth(user), timeout=60)
    assert response.status_code == 200, response.text
    outputs: list[str] = json.loads(response.json()["response"])
    return outputs


def test_add_list_and_complete_tasks_through_chat(
    database_url: str, backend: str, tmp_path: Path, launcher_name: str
) -> None:
    env: dict[str, Any] = {"MCP_LAUNCHER": launcher_name}
    if backend == "postgres":
        env["DATABASE_URL"] = database_url
    else:
        # The embedded default: a fresh state directory, migrated the way start-up migrates it.
        asyncio.run(upgrade_database(f"sqlite+aiosqlite:///{(tmp_path / 'chatgate.db').resolve()}"))
    server, app = start_live_app(tmp_path, **env)
    alice, bob = f"alice-{tmp_path.name}", f"bob-{tmp_path.name}"
    with server:
        app.model.policy = _tasks_policy
        created, listed, completed = (
            json.loads(text) for text in _chat(app.url, alice, "add and finish a task")
        )
        assert created["title"] == "Renew passport" and created["done"] is False
        assert [task["id"] for task in listed["items"]] == [created["id"]]
        assert completed["id"] == created["id"] and completed["done"] is True

        # Bob's process sees none of it, and Alice's id is simply "not found" for him.
        app.model.policy = _list_then_touch(created["id"])
        bob_list, bob_update = _chat(app.url, bob, "list my tasks and reopen that one")
        assert json.loads(bob_list)["total"] == 0
        assert "task not found" in bob_update

        app.model.policy = _tasks_policy
        bob_task, bob_listed, _ = (json.loads(text) for text in _chat(app.url, bob, "add and finish a task"))
        assert [task["id"] for task in bob_listed["items"]] == [bob_task["id"]]

        # A later request for Alice (a new process) still finds her task, done.
        app.model.policy = _list_then_touch(bob_task["id"])
        alice_list, alice_update = _chat(app.url, alice, "list my tasks")
        assert [(t["id"], t["done"]) for t in json.loads(alice_list)["items"]] == [(created["id"], True)]
        assert "task not found" in alice_update
