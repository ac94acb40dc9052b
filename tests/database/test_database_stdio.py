"""Every database tool through the real stdio server (`ExecLauncher`), one process per user."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.launcher.exec import ExecLauncher


def _value(result: Any) -> Any:
    if result.is_error:
        return ("error", " ".join(getattr(block, "text", "") for block in result.content))
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def test_database_tools_over_stdio(database_url: str, tmp_path: Path) -> None:
    settings = Settings(CHATGATE_STATE_DIR=tmp_path, FILES_ROOT=tmp_path / "files", DATABASE_URL=database_url)
    launcher = ExecLauncher(settings)
    alice, bob = f"alice-{tmp_path.name}", f"bob-{tmp_path.name}"

    async with launcher.launch(Principal(alice), request_id="stdio-a") as server:
        names = {tool.name for tool in await server.list_tools()}
        assert {"records_list", "records_create", "tasks_create", "tasks_update", "whoami"} <= names

        async def call(tool: str, arguments: dict[str, Any]) -> Any:
            return _value(await server.call_tool(tool, arguments))

        note = await call(
            "records_create", {"collection": "notes", "data": {"text": "'; DROP TABLE records; --"}}
        )
        assert note["data"] == {"text": "'; DROP TABLE records; --"}
        assert (await call("records_get", {"id": note["id"]}))["id"] == note["id"]
        updated = await call("records_update", {"id": note["id"], "patch": {"topic": "acme"}})
        assert updated["data"] == {"text": "'; DROP TABLE records; --", "topic": "acme"}
        listed = await call("records_list", {"collection": "notes", "where": {"topic": "acme"}})
        assert listed["total"] == 1 and listed["has_more"] is False
        assert (await call("records_collections", {}))["collections"] == [{"name": "notes", "count": 1}]

        task = await call("tasks_create", {"title": "Renew passport", "due_date": "2026-11-27"})
        assert (await call("tasks_update", {"id": task["id"], "changes": {"done": True}}))["done"] is True
        assert (await call("tasks_list", {"where": {"done": True}}))["total"] == 1
        assert (await call("tasks_get", {"id": task["id"]}))["title"] == "Renew passport"

        bad = await call("records_create", {"collection": "bad name", "data": {}})
        assert bad[0] == "error" and "collection must be" in bad[1]
        smuggled = await call("tasks_list", {"user_id": bob})
        assert smuggled[0] == "error" and "unknown argument" in smuggled[1]

    async with launcher.launch(Principal(bob), request_id="stdio-b") as server:

        async def call_as_bob(tool: str, arguments: dict[str, Any]) -> Any:
            return _value(await server.call_tool(tool, arguments))

        assert (await call_as_bob("records_list", {"collection": "notes"}))["total"] == 0
        assert (await call_as_bob("tasks_list", {}))["total"] == 0
        for tool, arguments in (
            ("records_get", {"id": note["id"]}),
            ("records_delete", {"id": note["id"]}),
            ("tasks_update", {"id": task["id"], "changes": {"done": False}}),
            ("tasks_delete", {"id": task["id"]}),
        ):
            outcome = await call_as_bob(tool, arguments)
            assert outcome[0] == "error" and outcome[1].endswith("not found"), outcome

    async with launcher.launch(Principal(alice), request_id="stdio-a2") as server:
        assert _value(await server.call_tool("records_delete", {"id": note["id"]})) == {"deleted": note["id"]}
        assert _value(await server.call_tool("tasks_delete", {"id": task["id"]})) == {"deleted": task["id"]}
