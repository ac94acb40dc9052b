"""What a tool may use: the bound identity and the resources opened for it at start-up.

Tools take these from the server's lifespan context rather than from arguments, so no tool can be
pointed at another user's data by anything the model says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.apis.client import ApiClient
from chatgate.files import FileSpace
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings


@dataclass
class ToolResources:
    """The lifespan context of one child: opened after the identity is bound, closed on exit."""

    settings: ChildSettings
    # The shared HTTP client of the API tools; None when no API is configured.
    api_client: ApiClient | None = None
    # The bound user's file space; None when no files root was passed.
    files: FileSpace | None = None
    # The database tools' engine (lazily connecting); None when no DATABASE_URL was passed.
    database: AsyncEngine | None = None

    @property
    def identity(self) -> BoundIdentity:
        return self.settings.identity


def resources_of(ctx: Context[Any, Any]) -> ToolResources:
    """The resources of the server running this tool call."""
    resources = ctx.request_context.lifespan_context
    if not isinstance(resources, ToolResources):  # pragma: no cover - a wiring bug, not user input
        raise TypeError("tool called outside a chatgate MCP server")
    return resources
