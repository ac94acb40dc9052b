"""Pins what `chatgate.launcher.sdk_private` relies on in the Agents SDK and the MCP client.

A forked tool server's session is seeded with the template's tool list: listing the tools and the
first tool call must then cost no `tools/list` round trip to the child. An SDK upgrade that renames
the private attributes behind this fails here, not as a slower chat.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from agents.mcp import MCPServerStdio

from chatgate.auth.principal import Principal
from chatgate.launcher.sdk_private import seed_tools_cache
from chatgate.launcher.session import PipeMCPServer
from support.launching import launcher_settings, make_launcher

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the fork launcher is Linux-only"
)


def _count_listings(server: PipeMCPServer) -> list[None]:
    """Record every `tools/list` request the MCP client sends to the child."""
    session: Any = server.session
    asked: list[None] = []
    list_tools = session.list_tools

    async def counted(*args: Any, **kwargs: Any) -> Any:
        asked.append(None)
        return await list_tools(*args, **kwargs)

    session.list_tools = counted
    return asked


async def test_a_forked_session_lists_and_calls_tools_without_asking_the_child(tmp_path: Path) -> None:
    launcher = make_launcher("fork", launcher_settings(tmp_path))
    await launcher.start()
    try:
        async with launcher.launch(Principal("alice"), request_id="r1") as server:
            assert isinstance(server, PipeMCPServer)
            asked = _count_listings(server)
            names = {tool.name for tool in await server.list_tools()}
            result = await server.call_tool("whoami", {})
    finally:
        await launcher.stop()
    assert "whoami" in names
    assert not result.is_error
    assert result.structured_content == {"user_id": "alice"}
    assert asked == []  # both answered from the seeded caches


def test_seeding_refuses_an_sdk_without_the_tools_cache() -> None:
    class Renamed(MCPServerStdio):
        def __init__(self) -> None:
            super().__init__(params={"command": "unused", "args": []})
            del self._tools_list

    with pytest.raises(RuntimeError, match="_tools_list"):
        seed_tools_cache(Renamed(), [])
