"""The exec launcher: a new interpreter (`python -m chatgate.mcp_server`) per request.

Simple and portable; it pays a full interpreter start and SDK import per request (about a second of
CPU). The fork launcher removes that cost behind the same interface.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from agents.mcp import MCPServer as AgentsMCPServer
from agents.mcp import MCPServerStdio

from chatgate.config import Settings
from chatgate.launcher.agents_server import curated_tool_failure, leaf_exception, record_tool_outcome
from chatgate.launcher.base import ToolServerStartError
from chatgate.launcher.environment import child_environment
from chatgate.principal import Principal

logger = logging.getLogger(__name__)

CHILD_MODULE = "chatgate.mcp_server"
# The stdio client's own shutdown waits up to 2 s then escalates (SIGTERM, SIGKILL); bound it anyway.
TEARDOWN_LIMIT_SECONDS = 6.0


class ExecLauncher:
    """Spawns `sys.executable -u -m chatgate.mcp_server` with an allowlisted environment."""

    name = "exec"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @asynccontextmanager
    async def launch(self, principal: Principal, *, request_id: str) -> AsyncIterator[AgentsMCPServer]:
        server = MCPServerStdio(
            params={
                "command": sys.executable,
                "args": ["-u", "-m", CHILD_MODULE],
                "env": child_environment(self._settings, principal, request_id=request_id),
                "cwd": str(self._settings.state_dir.resolve()),
            },
            name="chatgate",
            # One request, one process: its tool list cannot change underneath us.
            cache_tools_list=True,
            client_session_timeout_seconds=self._settings.mcp_tool_timeout_seconds,
            failure_error_function=curated_tool_failure,
            custom_data_extractor=record_tool_outcome,
        )
        await connect_within(server, self._settings.mcp_connect_timeout_seconds)
        try:
            yield server
        finally:
            await teardown(server)


async def connect_within(server: AgentsMCPServer, limit_seconds: float) -> None:
    """Connect, really bounded by `limit_seconds` (the SDK's discovery probe ignores its own timeouts).

    Raises:
        ToolServerStartError: the process did not start or did not complete the handshake in time.
    """
    try:
        with anyio.fail_after(limit_seconds):
            await server.connect()
    except TimeoutError as exc:
        await teardown(server)
        raise ToolServerStartError(f"tool server did not start within {limit_seconds:g}s") from exc
    except Exception as exc:
        await teardown(server)
        cause = leaf_exception(exc)
        logger.warning("tool server failed to start: %s", type(cause).__name__)
        raise ToolServerStartError("tool server failed to start") from cause


async def teardown(server: AgentsMCPServer) -> None:
    """Close the session and reap the process; shielded so a cancelled request still cleans up."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(TEARDOWN_LIMIT_SECONDS) as scope:
        try:
            await server.cleanup()
        except Exception as exc:  # teardown must never mask the request's own outcome
            logger.warning("tool server cleanup failed: %s", type(leaf_exception(exc)).__name__)
    if scope.cancelled_caught:
        logger.error("tool server cleanup exceeded %.0fs", TEARDOWN_LIMIT_SECONDS)
