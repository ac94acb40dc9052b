"""Tool calls without a model: one user's real tool servers, opened the way a chat opens them.

`open_tool_session` goes through the app's own `ChatService.tool_servers` (admission, the launcher,
the user's operator MCP servers, teardown), so a call here is the call a chat would make. It runs on
the app's event loop: `ChatgateApp.run` gets there from a test's thread.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from agents.mcp import MCPServer as AgentsMCPServer
from mcp.types import CallToolResult

from chatgate.auth.principal import Principal
from chatgate.chat import ChatService


@dataclass(frozen=True)
class ToolResult:
    """What one tool call returned: its text, its structured content (if any), and whether it failed."""

    name: str
    text: str
    structured: Any
    is_error: bool

    @property
    def ok(self) -> bool:
        return not self.is_error

    def json(self) -> Any:
        """The structured content, else the text parsed as JSON.

        Raises:
            ValueError: there is no structured content and the text is not JSON.
        """
        return self.structured if self.structured is not None else json.loads(self.text)

    @classmethod
    def from_mcp(cls, name: str, result: CallToolResult) -> ToolResult:
        text = "".join(getattr(part, "text", "") for part in result.content)
        return cls(name=name, text=text, structured=result.structured_content, is_error=bool(result.is_error))


class ToolNotFoundError(LookupError):
    """No tool server bound to the user offers a tool of that name."""


class ToolSession:
    """One user's open tool servers (chatgate's and the operator MCP servers the user gets)."""

    def __init__(self, user: str, servers: list[AgentsMCPServer]) -> None:
        self.user = user
        self._servers = servers
        self._owners: dict[str, AgentsMCPServer] | None = None
        self._catalog: list[dict[str, Any]] = []

    async def catalog(self) -> list[dict[str, Any]]:
        """The tools, as `GET /api/agents/tools` lists them: name, description, input_schema, annotations."""
        await self._owner_of("")
        return self._catalog

    async def _owner_of(self, name: str) -> AgentsMCPServer | None:
        if self._owners is None:
            self._owners = {}
            for server in self._servers:
                for tool in await server.list_tools():
                    self._owners[tool.name] = server
                    annotations = (
                        tool.annotations.model_dump(exclude_none=True, by_alias=True)
                        if tool.annotations
                        else {}
                    )
                    self._catalog.append(
                        {
                            "name": tool.name,
                            "description": tool.description or "",
                            "input_schema": tool.input_schema,
                            "annotations": annotations,
                        }
                    )
        return self._owners.get(name)

    async def call(
        self, name: str, arguments: dict[str, Any], *, tolerate_failures: bool = False
    ) -> ToolResult:
        """Call one tool as the agent would.

        With `tolerate_failures`, a failure below the tool (an unknown name, a timeout, a crashed
        server) becomes an error result instead of an exception.

        Raises:
            ToolNotFoundError: the user has no such tool (unless `tolerate_failures`).
        """
        try:
            owner = await self._owner_of(name)
            if owner is None:
                raise ToolNotFoundError(
                    f"{self.user!r} has no tool {name!r}; they have {sorted(self._owners or {})}"
                )
            return ToolResult.from_mcp(name, await owner.call_tool(name, arguments))
        except Exception as exc:
            if not tolerate_failures:
                raise
            return ToolResult(name, f"call failed: {type(exc).__name__}", None, is_error=True)


@asynccontextmanager
async def open_tool_session(service: ChatService, user: str) -> AsyncIterator[ToolSession]:
    """`user`'s tool servers, bound and connected, torn down on exit (on the app's loop)."""
    principal = Principal(user_id=user, claims=MappingProxyType({"sub": user}))
    request_id = f"test-{uuid.uuid4().hex[:16]}"
    async with service.tool_servers(principal, request_id=request_id) as (server, extra):
        yield ToolSession(user, [server, *extra])
