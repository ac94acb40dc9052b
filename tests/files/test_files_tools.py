"""The six file tools: called directly, through the in-memory MCP server, and over real stdio."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.files import FileSpace
from chatgate.launcher.exec import ExecLauncher
from chatgate.mcp_server.context import ToolResources
from chatgate.mcp_server.server import build_server
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings
from chatgate.mcp_server.tools import files as tools

FILE_TOOLS = {"files_list", "files_read", "files_write", "files_delete", "files_move", "files_search"}


def _ctx(space: FileSpace | None) -> Any:
    settings = ChildSettings(identity=BoundIdentity("alice"))
    return SimpleNamespace(
        request_context=SimpleNamespace(lifespan_context=ToolResources(settings, files=space))
    )


def _payload(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    [block] = result.content
    assert isinstance(block, TextContent)
    assert "\n" not in block.text and ", " not in block.text.replace('", "', "")  # compact JSON
    decoded = json.loads(block.text)
    assert decoded == result.structured_content
    assert isinstance(decoded, dict)
    return decoded


async def test_each_tool_called_directly(space: FileSpace) -> None:
    ctx = _ctx(space)
    written = _payload(await tools.files_write(ctx, "notes/q3.md", "Q3: Berlin trip booked\n"))
    assert written == {"path": "notes/q3.md", "size": 23, "created": True}
    _payload(await tools.files_write(ctx, "notes/q3.md", "more\n", mode="append"))
    listing = _payload(await tools.files_list(ctx, ".", recursive=True))
    assert [entry["name"] for entry in listing["entries"]] == ["notes", "notes/q3.md"]
    read = _payload(await tools.files_read(ctx, "notes/q3.md", offset=1, limit=1))
    assert read["content"] == "more\n"
    found = _payload(await tools.files_search(ctx, "berlin"))
    assert found["matches"] == [{"path": "notes/q3.md", "line": 1, "text": "Q3: Berlin trip booked"}]
    assert _payload(await tools.files_move(ctx, "notes/q3.md", "final.md")) == {
        "moved": "notes/q3.md",
        "to": "final.md",
    }
    assert _payload(await tools.files_delete(ctx, "final.md")) == {"deleted": "final.md", "type": "file"}
    assert _payload(await tools.files_delete(ctx, "notes")) == {"deleted": "notes", "type": "folder"}


async def test_tool_errors_are_curated(space: FileSpace, root: Path) -> None:
    ctx = _ctx(space)
    with pytest.raises(ToolError, match=r"^missing\.md was not found$"):
        await tools.files_read(ctx, "missing.md")
    with pytest.raises(ToolError) as caught:
        await tools.files_read(ctx, "../../etc/passwd")
    assert str(root) not in str(caught.value) and "passwd" not in str(caught.value)
    with pytest.raises(ToolError, match="not configured"):
        await tools.files_list(_ctx(None))


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(CHATGATE_STATE_DIR=tmp_path, FILES_ROOT=tmp_path / "files", **extra)


async def test_in_memory_server_advertises_truthful_tools(tmp_path: Path) -> None:
    child = ChildSettings(identity=BoundIdentity("alice"), files_root=tmp_path / "files")
    async with Client(build_server(child)) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(listed) >= FILE_TOOLS
        for name in FILE_TOOLS:
            tool = listed[name]
            assert tool.description and tool.description.count(". ") == 0 and tool.description.endswith(".")
            assert tool.annotations is not None and tool.annotations.open_world_hint is False
            assert tool.input_schema["additionalProperties"] is False
            assert "user" not in json.dumps(tool.input_schema["properties"]).lower().replace("user's", "")
            for prop in tool.input_schema["properties"].values():
                assert prop["description"].endswith(".")
        read_only = {name for name in FILE_TOOLS if listed[name].annotations.read_only_hint}  # type: ignore[union-attr]
        assert read_only == {"files_list", "files_read", "files_search"}
        destructive = {name for name in FILE_TOOLS if listed[name].annotations.destructive_hint}  # type: ignore[union-attr]
        assert destructive == {"files_write", "files_delete"}

        smuggled = await client.call_tool("files_list", {"path": ".", "user_id": "bob"})
        assert smuggled.is_error
        result = await client.call_tool("files_write", {"path": "a.txt", "content": "hi"})
        assert not result.is_error and result.structured_content == {
            "path": "a.txt",
            "size": 2,
            "created": True,
        }
        refused = await client.call_tool("files_read", {"path": "/etc/passwd"})
        assert refused.is_error and "absolute" in refused.content[0].text  # type: ignore[union-attr]


async def test_real_stdio_round_trip_and_isolation(tmp_path: Path) -> None:
    settings = _settings(tmp_path, FILES_QUOTA_FILES=3, FILES_MAX_READ_BYTES=1024)
    launcher = ExecLauncher(settings)
    async with launcher.launch(Principal("alice"), request_id="files-1") as alice:
        names = {tool.name for tool in await alice.list_tools()}
        assert names >= FILE_TOOLS
        assert not (
            await alice.call_tool("files_write", {"path": "trips/berlin.md", "content": "Berlin, May\n"})
        ).is_error
        assert not (
            await alice.call_tool("files_write", {"path": "draft.md", "content": "x" * 3000})
        ).is_error
        read = await alice.call_tool("files_read", {"path": "draft.md"})
        assert "1.0 KiB read cap" in read.content[0].text  # type: ignore[union-attr]  # the child got the limit
        full = await alice.call_tool("files_write", {"path": "one/more.md", "content": "x"})
        assert full.is_error and "over your limit of 3" in full.content[0].text  # type: ignore[union-attr]
        assert not (
            await alice.call_tool("files_move", {"source": "draft.md", "destination": "final.md"})
        ).is_error
        found = await alice.call_tool("files_search", {"query": "berlin"})
        assert '"path":"trips/berlin.md"' in found.content[0].text  # type: ignore[union-attr]
        escape = await alice.call_tool("files_read", {"path": "../" + "u-bob/secret.md"})
        assert escape.is_error and str(tmp_path) not in escape.content[0].text  # type: ignore[union-attr]
        assert not (await alice.call_tool("files_delete", {"path": "final.md"})).is_error
    async with launcher.launch(Principal("bob"), request_id="files-2") as bob:
        listing = await bob.call_tool("files_list", {"recursive": True})
        assert json.loads(listing.content[0].text)["entries"] == []  # type: ignore[union-attr]
        search = await bob.call_tool("files_search", {"query": "berlin"})
        assert json.loads(search.content[0].text)["matches"] == []  # type: ignore[union-attr]
        missing = await bob.call_tool("files_read", {"path": "trips/berlin.md"})
        assert missing.is_error
