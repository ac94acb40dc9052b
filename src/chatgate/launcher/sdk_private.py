"""The one place chatgate writes private attributes of the Agents SDK and the MCP client.

A forked tool server's tool list is known before it starts (the template listed it once), so a
session is given that list instead of asking the child for it. Neither library has a public way to
say so; this module is where an upgrade that renames these attributes breaks, and
`tests/launcher/test_sdk_private.py` is the test that says so.
"""

from __future__ import annotations

import copy

from agents.mcp import MCPServerStdio
from mcp.types import Tool as MCPTool


def seed_tools_cache(server: MCPServerStdio, tools: list[MCPTool]) -> None:
    """Give a connected `server` its tool list, as if it had listed `tools` itself.

    Fills the Agents SDK's cache (what `cache_tools_list=True` fills after the first listing, so its
    client-side behaviour, the required-argument check included, matches a listed session) and the
    MCP client's output schemas (which it otherwise re-lists the tools to learn on the first call).

    Raises:
        RuntimeError: the Agents SDK no longer has the cache attributes this writes (an upgrade).
    """
    if not hasattr(server, "_tools_list") or not hasattr(server, "_cache_dirty"):
        raise RuntimeError("agents.mcp.MCPServerStdio no longer caches its tool list in _tools_list")
    server._tools_list = copy.deepcopy(tools)
    server._cache_dirty = False
    # Private in mcp 2.x; if it goes, the only cost is one tool-list round trip on the first call.
    schemas = getattr(server.session, "_tool_output_schemas", None)
    if isinstance(schemas, dict):
        schemas.update({tool.name: tool.output_schema for tool in tools})
