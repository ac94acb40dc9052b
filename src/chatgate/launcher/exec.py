"""The exec launcher: a new interpreter (`python -m chatgate.mcp_server`) per request.

Simple and portable; it pays a full interpreter start and SDK import per request (about a second of
CPU). The fork launcher removes that cost behind the same interface.

The child is spawned here (not by the MCP SDK's stdio client) so that its teardown is ours and
unconditional: `close_session` closes its pipes, then SIGTERMs and SIGKILLs its process group after
a short grace, on every path out of `launch`, cancellation included.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from agents.mcp import MCPServer as AgentsMCPServer
from mcp.client.stdio import get_default_environment
from mcp.types import Tool as MCPTool

from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.forkserver.protocol import WARM_UP_USER
from chatgate.launcher.base import ToolServerStartError
from chatgate.launcher.environment import child_environment
from chatgate.launcher.process import ToolProcess
from chatgate.launcher.session import PipeMCPServer, close_session, connect_within
from chatgate.tool_outcomes import curated_tool_failure, record_tool_outcome

logger = logging.getLogger(__name__)

CHILD_MODULE = "chatgate.mcp_server"
# The catalog is listed for a placeholder identity no tool server ever serves (as the fork template's).
CATALOG_PRINCIPAL = Principal(WARM_UP_USER)


class ExecLauncher:
    """Spawns `sys.executable -u -m chatgate.mcp_server` with an allowlisted environment."""

    name = "exec"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._tools: list[MCPTool] | None = None

    async def start(self) -> None:
        await self.catalog()

    async def catalog(self) -> list[MCPTool]:
        """Listed once, in this process, from a server built the way every child builds its own.

        The child environment is the one a tool server gets, for a placeholder user that never
        serves: registration ignores the identity, so every bound child lists exactly this.
        """
        if self._tools is None:
            from chatgate.forkserver.warmup import listed_tools

            env = child_environment(self._settings, CATALOG_PRINCIPAL, request_id="catalog")
            self._tools = [MCPTool.model_validate(tool) for tool in await listed_tools(env)]
        return self._tools

    async def stop(self) -> None:
        return None

    @asynccontextmanager
    async def launch(
        self, principal: Principal, *, request_id: str, extra_env: Mapping[str, str] | None = None
    ) -> AsyncIterator[AgentsMCPServer]:
        settings = self._settings
        # What the MCP SDK's stdio client would pass (PATH, HOME, …) plus the allowlisted child environment.
        env = get_default_environment() | child_environment(
            settings, principal, request_id=request_id, extra_env=extra_env
        )
        try:
            process = ToolProcess.spawn(
                [sys.executable, "-u", "-m", CHILD_MODULE], env=env, cwd=settings.state_dir.resolve()
            )
        except OSError as exc:
            logger.warning("tool server failed to spawn: %s", type(exc).__name__)
            raise ToolServerStartError("tool server failed to start") from exc
        # No await between the spawn and this `try`: from here on, every exit path tears down.
        server = PipeMCPServer(
            process,
            tools=self._tools,
            name="chatgate",
            # One request, one process: its tool list cannot change underneath us.
            cache_tools_list=True,
            client_session_timeout_seconds=settings.mcp_tool_timeout_seconds,
            failure_error_function=curated_tool_failure,
            custom_data_extractor=record_tool_outcome,
        )
        try:
            await connect_within(server, settings.mcp_connect_timeout_seconds)
            yield server
        finally:
            await close_session(server)
