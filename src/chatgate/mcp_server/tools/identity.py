"""Identity tools: who the bound user is."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer

from chatgate.mcp_server.context import ToolResources, resources_of
from chatgate.mcp_server.tools.annotations import READS


async def whoami(ctx: Context[ToolResources, Any]) -> dict[str, Any]:
    """Return the signed-in user's id and profile (email, name) as the service knows them."""
    identity = resources_of(ctx).identity
    return {"user_id": identity.user_id, **dict(identity.claims)}


def register(server: MCPServer[ToolResources]) -> None:
    server.add_tool(
        whoami,
        name="whoami",
        annotations=READS,
    )
