"""The launcher interface and its errors."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from agents.mcp import MCPServer as AgentsMCPServer
from mcp.types import Tool as MCPTool

from chatgate.auth.principal import Principal


class ToolServerError(RuntimeError):
    """The request's tool server is not usable (the request gets a 503 `tool_server_unavailable`)."""


class ToolServerStartError(ToolServerError):
    """The tool server could not be started or did not answer in time."""


class ToolServerLostError(ToolServerError):
    """The tool server died (or stopped answering) while the request still needed it."""


class Launcher(Protocol):
    """Starts single-use tool servers bound to one principal."""

    name: str

    async def start(self) -> None:
        """Prepare shared machinery (called once at app start-up)."""

    async def stop(self) -> None:
        """Release shared machinery (called once at app shutdown)."""

    async def catalog(self) -> list[MCPTool]:
        """The tools every server this launcher starts lists, whoever it is bound to (no process).

        Raises:
            ToolServerStartError: the catalog cannot be had (the fork template does not start).
        """
        ...

    def launch(
        self, principal: Principal, *, request_id: str, extra_env: Mapping[str, str] | None = None
    ) -> AbstractAsyncContextManager[AgentsMCPServer]:
        """A connected server bound to `principal`, torn down when the context exits.

        `extra_env` adds API variables (`CHATGATE_API_…`: the operator's service secrets and this
        user's own API credentials) to this server's environment only; any other name is dropped.
        """
        ...
