"""Isolation end to end: two users keep, find and reorganize files through `POST /api/agents/chat`.

Real HTTP, the real exec launcher, a scripted model. Neither user sees a byte of the other's files,
whatever paths the model tries.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from support.live_app import LiveApp
from support.models import call_then_report
from support.tokens import auth

ALICE_TEXT = "ALICE-ONLY: Berlin trip in May, hotel Adlon"
BOB_TEXT = "BOB-ONLY: Berlin conference badge 7731"


def _script(user: str, text: str, other: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("files_write", {"path": "trips/berlin.md", "content": text + "\n"}),
        ("files_write", {"path": f"notes/{user}.md", "content": "draft\n"}),
        ("files_move", {"source": f"notes/{user}.md", "destination": f"archive/{user}-final.md"}),
        ("files_list", {"path": ".", "recursive": True}),
        ("files_search", {"query": "berlin"}),
        ("files_search", {"query": other, "scope": "all"}),
        ("files_read", {"path": "trips/berlin.md"}),
        ("files_read", {"path": f"../u-{other}/trips/berlin.md"}),
        ("files_delete", {"path": f"archive/{user}-final.md"}),
    ]


def _policy(call: Any) -> Any:
    # One policy for both users: the first user message says who is asking.
    items = call.input if isinstance(call.input, list) else []
    first = next(
        (item.get("content") for item in items if isinstance(item, dict) and item.get("role") == "user"), ""
    )
    user = "alice" if "alice" in str(first) else "bob"
    script = _script(user, ALICE_TEXT if user == "alice" else BOB_TEXT, "bob" if user == "alice" else "alice")
    return call_then_report(script)(call)


async def test_two_users_never_see_each_others_files(live_app: LiveApp) -> None:
    live_app.model.policy = _policy
    async with httpx.AsyncClient(timeout=90) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{live_app.url}/api/agents/chat", json={"message": f"I am {user}"}, headers=auth(user)
                )
                for user in ("alice", "bob")
            )
        )
    for user, own, foreign, response in (
        ("alice", ALICE_TEXT, BOB_TEXT, responses[0]),
        ("bob", BOB_TEXT, ALICE_TEXT, responses[1]),
    ):
        assert response.status_code == 200, response.text
        body = response.json()
        outputs = json.loads(body["response"])
        assert len(outputs) == 9
        everything = "\n".join(outputs)
        assert foreign.split(":")[0] not in everything  # not a byte of the other user's text
        assert str(live_app.settings.state_dir) not in everything  # no server paths either
        listing = json.loads(outputs[3])
        assert [entry["name"] for entry in listing["entries"]] == [
            "archive", f"archive/{user}-final.md", "notes", "trips", "trips/berlin.md",
        ]  # fmt: skip
        search = json.loads(outputs[4])
        assert search["matches"] == [
            {"path": "trips/berlin.md", "type": "file"},
            {"path": "trips/berlin.md", "line": 1, "text": own},
        ]
        assert json.loads(outputs[5])["matches"] == []
        assert json.loads(outputs[6])["content"] == own + "\n"
        assert "'..' is not allowed" in outputs[7]
        assert json.loads(outputs[8]) == {"deleted": f"archive/{user}-final.md", "type": "file"}
        used = body["tools_used"]
        assert [tool["ok"] for tool in used] == [True] * 7 + [False, True]
    files_root = live_app.settings.resolved_files_root
    assert (files_root / "u-alice" / "trips" / "berlin.md").read_text() == ALICE_TEXT + "\n"
    assert (files_root / "u-bob" / "trips" / "berlin.md").read_text() == BOB_TEXT + "\n"
