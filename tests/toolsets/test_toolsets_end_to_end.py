"""Toolset tools through `POST /api/agents/chat`: real tool servers on both launchers, on SQLite and on
PostgreSQL (application role, row-level security on). Two users; neither ever sees the other's rows
or files."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from support.live_app import start_live_app
from support.models import call_then_report
from support.tokens import auth
from toolsets.project_config import write_config


def _chat(url: str, user: str) -> tuple[list[Any], dict[str, Any]]:
    response = httpx.post(f"{url}/api/agents/chat", json={"message": "go"}, headers=auth(user), timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    outputs = [json.loads(text) if text.startswith("{") else text for text in json.loads(body["response"])]
    return outputs, body


def test_toolset_tools_read_and_write_only_the_bound_users_rows_and_files(
    launcher_name: str, backend: str, database_url: str, notes_table: None, tmp_path: Path
) -> None:
    server, app = start_live_app(
        tmp_path,
        MCP_LAUNCHER=launcher_name,
        DATABASE_URL=database_url,
        CHATGATE_CONFIG=write_config(tmp_path),
    )
    alice, bob = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    with server:
        app.model.policy = call_then_report(
            [
                ("notes_add", {"text": "alice's secret"}),
                ("notes_save_file", {"name": "plan.txt", "content": "alice's plan"}),
                ("notes_profile", {}),
            ]
        )
        (added, saved, profile), body = _chat(app.url, alice)
        assert added["text"] == "alice's secret" and saved["path"] == "plan.txt"
        assert profile == {"id": alice, "claims": {}}
        assert [tool["name"] for tool in body["tools_used"]] == [
            "notes_add",
            "notes_save_file",
            "notes_profile",
        ]

        app.model.policy = call_then_report(
            [
                ("notes_add", {"text": "bob's note"}),
                ("notes_list", {}),
                ("notes_list_unfiltered", {}),
                ("notes_read_file", {"name": "plan.txt"}),
                ("notes_add", {"text": "smuggled", "user_id": alice}),
            ]
        )
        (_, listed, unfiltered, read, smuggled), _ = _chat(app.url, bob)
        assert listed == {"texts": ["bob's note"]}
        if backend == "postgres":
            assert unfiltered == {"texts": ["bob's note"]}  # row-level security, with no filter in code
        assert "alice" not in json.dumps(read) and "not found" in str(read).lower()
        assert "unknown argument(s) user_id" in str(smuggled)

        app.model.policy = call_then_report([("notes_list", {}), ("notes_read_file", {"name": "plan.txt"})])
        (listed, read), _ = _chat(app.url, alice)
        assert listed == {"texts": ["alice's secret"]}
        assert read["content"] == "alice's plan"
