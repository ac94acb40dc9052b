"""What a tool may use: the bound identity and the resources opened for it at start-up.

Tools take these from the server's lifespan context rather than from arguments, so no tool can be
pointed at another user's data by anything the model says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.files import FileSpace
from chatgate.http_apis.client import ApiClient
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings
from chatgate.storage.engine import TOOL_SERVER_MAX_OVERFLOW, TOOL_SERVER_POOL_SIZE, create_engine


@dataclass
class ToolResources:
    """The lifespan context of one child: opened after the identity is bound, closed on exit."""

    settings: ChildSettings
    # The shared HTTP client of the API tools; None when no API is configured.
    api_client: ApiClient | None = None
    # The bound user's file space; None when no files root was passed.
    files: FileSpace | None = None
    # The database tools' engine, created by `engine()` on the first database tool call: a chat that
    # never touches the database does not pay for it (in a forked child, ~440 copied pages and ~4 ms).
    database: AsyncEngine | None = None
    database_url: str | None = None

    @property
    def identity(self) -> BoundIdentity:
        return self.settings.identity

    def engine(self) -> AsyncEngine | None:
        """The database engine, created on first use; None when no database is configured."""
        if self.database is None and self.database_url:
            # Connects lazily too: no I/O here. On PostgreSQL its transactions present the identity
            # the service signed for this launch (`chatgate.storage.identity`); its pool is part of the
            # connection budget (docs/deploy.md).
            self.database = create_engine(
                self.database_url,
                identity_token=self.settings.database_identity,
                pool_size=TOOL_SERVER_POOL_SIZE,
                max_overflow=TOOL_SERVER_MAX_OVERFLOW,
            )
        return self.database


def resources_of(ctx: Context[Any, Any]) -> ToolResources:
    """The resources of the server running this tool call."""
    resources = ctx.request_context.lifespan_context
    if not isinstance(resources, ToolResources):  # pragma: no cover - a wiring bug, not user input
        raise TypeError("tool called outside a chatgate MCP server")
    return resources
