"""Tool groups, one module per resource kind. Each exposes `register(server, …)`."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from chatgate.mcp_server.context import ToolResources
from chatgate.mcp_server.settings import ChildSettings
from chatgate.mcp_server.tools import files, identity, records, tables
from chatgate.storage.tables import load_table_specs
from chatgate.tool_config import load_tool_config


def register_all(server: MCPServer[ToolResources], settings: ChildSettings) -> None:
    """Register every tool group on `server`."""
    identity.register(server)
    files.register(server)
    records.register(server)
    tables.register(server, load_table_specs(load_tool_config(settings.config_file)))
