"""The no-isolation baseline: one in-process tool server shared by every request (bench only).

This is what the service deliberately does not do: every user's requests reach the same server
object, bound to one placeholder identity. It exists here to price isolation, and is never
selectable in the service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from agents.mcp import MCPServer as AgentsMCPServer
from agents.mcp import MCPServerStdio
from agents.mcp.server import MCPStreamTransport
from mcp.client._memory import InMemoryTransport
from mcp.types import Tool as MCPTool

from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.mcp_server.server import StrictMCPServer, build_server
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings
from chatgate.tool_outcomes import curated_tool_failure, record_tool_outcome

SHARED_USER = "bench-shared-server"


class _InMemoryAgentsServer(MCPServerStdio):
    """The Agents SDK server class over an in-process MCP server instead of a child's pipes."""

    def __init__(self, server: StrictMCPServer, **kwargs: object) -> None:
        super().__init__(params={"command": "in-process", "args": []}, **kwargs)  # type: ignore[arg-type]
        self._mcp_server = server

    def create_streams(self) -> AbstractAsyncContextManager[MCPStreamTransport]:
        return InMemoryTransport(self._mcp_server)


class SharedInProcessLauncher:
    """A `Launcher` that hands every request the same connected in-process server."""

    name = "baseline"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._server: _InMemoryAgentsServer | None = None

    async def start(self) -> None:
        server = build_server(ChildSettings(identity=BoundIdentity(user_id=SHARED_USER)))
        self._server = _InMemoryAgentsServer(
            server,
            name="chatgate",
            cache_tools_list=True,
            client_session_timeout_seconds=self._settings.mcp_tool_timeout_seconds,
            failure_error_function=curated_tool_failure,
            custom_data_extractor=record_tool_outcome,
        )
        await self._server.connect()  # type: ignore[no-untyped-call]
        await self._server.list_tools()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.cleanup()  # type: ignore[no-untyped-call]
            self._server = None

    async def catalog(self) -> list[MCPTool]:
        assert self._server is not None, "start() first"
        return await self._server.list_tools()

    @asynccontextmanager
    async def launch(
        self, principal: Principal, *, request_id: str, extra_env: Mapping[str, str] | None = None
    ) -> AsyncIterator[AgentsMCPServer]:
        assert self._server is not None, "start() first"
        yield self._server
