"""Tool groups, one module per resource kind. Each exposes `register(server)`."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from chatgate.mcp_server.context import ToolResources
from chatgate.mcp_server.tools import files, identity


def register_all(server: MCPServer[ToolResources]) -> None:
    """Register every tool group on `server`."""
    identity.register(server)
    files.register(server)
