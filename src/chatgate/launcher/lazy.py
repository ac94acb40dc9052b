"""A chat's tool server, launched at the chat's first tool call instead of before the run.

The model needs the tool catalog on every call, but a process only for a tool call. The catalog is
the same for every user (tools act on "the bound user" and take no identity; API tools are listed
whether or not the user stored a credential), and the launcher knows it without a process
(`Launcher.catalog`: the fork template's, or the exec launcher's listing in process at start-up).
So `LazyToolServer` answers `list_tools` from that catalog and opens the real, bound server
(`open_server`, the launcher's `launch` for this principal) when a tool is first called; every
later call goes to that same server, and `aclose` tears it down. A chat that calls no tool
launches nothing.

It is the Agents SDK's `MCPServerStdio` with the same settings as the launchers' own servers (tool
filter, failure message, tool-outcome data), so to the SDK it is the tool server; which of its calls
wait for the user's approval is its `require_approval` (`chatgate.approvals.policy`).

A launch that fails at the first call is a failed request (503 `tool_server_unavailable`, as when
servers were launched up front), not a tool error for the model to read: `launch_failure` keeps it
and the failure message re-raises it, so the run stops there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

import anyio
from agents.mcp import MCPServer as AgentsMCPServer
from agents.mcp import MCPServerStdio, MCPToolMetaContext
from agents.mcp.server import RequireApprovalSetting
from mcp.types import CallToolResult
from mcp.types import Tool as MCPTool

from chatgate.launcher.base import ToolServerLostError
from chatgate.launcher.session import PipeMCPServer, ProgressSink, progress_meta
from chatgate.tool_outcomes import curated_tool_failure, record_tool_outcome

# What the model reads when the chat has already ended (an SDK run loop that outlives its request).
_CLOSED = "the chat that owned this tool server has ended"


class LaunchFailedError(Exception):
    """Raised out of the run when the first tool call could not launch the tool server."""


class LazyToolServer(MCPServerStdio):
    """Lists `catalog`; launches `open_server()` at the first `call_tool`; `aclose` tears it down."""

    def __init__(
        self,
        catalog: list[MCPTool],
        open_server: Callable[[], AbstractAsyncContextManager[AgentsMCPServer]],
        *,
        tool_timeout_seconds: float,
        require_approval: RequireApprovalSetting = None,
    ) -> None:
        super().__init__(
            params={"command": "chatgate-tool-server", "args": []},
            name="chatgate",
            cache_tools_list=True,
            client_session_timeout_seconds=tool_timeout_seconds,
            failure_error_function=self._failure_message,
            custom_data_extractor=record_tool_outcome,
            tool_meta_resolver=self._progress_token,
            require_approval=require_approval,
        )
        # Set for a streamed chat: the launched server's progress notifications go there.
        self.progress_sink: ProgressSink | None = None
        self._catalog = catalog
        self._open_server = open_server
        self._stack = AsyncExitStack()
        self._server: AgentsMCPServer | None = None
        self._lock: asyncio.Lock | None = None
        self._closed = False
        self.launch_failure: BaseException | None = None

    @property
    def launched(self) -> bool:
        """Whether a tool server was started for this chat."""
        return self._server is not None

    async def connect(self) -> None:
        """Nothing to connect until a tool is called."""

    async def cleanup(self) -> None:
        await self.aclose()

    async def list_tools(self, run_context: Any = None, agent: Any = None) -> list[MCPTool]:
        """The catalog (after the agent's tool filter), as a bound server would list it."""
        tools = self._catalog
        if self.tool_filter is not None:
            tools = await self._apply_tool_filter(tools, run_context, agent)
        # The shared catalog itself, not deep copies (a third of this listing's cost per model turn):
        # the SDK turns each tool into a function tool holding its own copies of the schema,
        # annotations and meta, and never assigns to the tools it is given; our filters only read.
        return list(tools)

    @property
    def cached_tools(self) -> list[MCPTool] | None:
        return list(self._catalog)

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None
    ) -> CallToolResult:
        server = await self._bound_server()
        if meta is None:
            return await server.call_tool(tool_name, arguments)
        return await server.call_tool(tool_name, arguments, meta=meta)

    async def _bound_server(self) -> AgentsMCPServer:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # parallel tool calls of one turn share one launch
            if self._closed:
                raise ToolServerLostError(_CLOSED)
            if self.launch_failure is not None:
                raise LaunchFailedError() from self.launch_failure
            if self._server is None:
                try:
                    self._server = await self._stack.enter_async_context(self._open_server())
                    if isinstance(self._server, PipeMCPServer):
                        self._server.progress_sink = self.progress_sink
                except Exception as exc:
                    self.launch_failure = exc
                    raise LaunchFailedError() from exc
            return self._server

    def _progress_token(self, context: MCPToolMetaContext) -> dict[str, Any] | None:
        return progress_meta(context) if self.progress_sink is not None else None

    async def aclose(self) -> None:
        """Tear down the launched server, if any (waiting for a launch in progress). Shielded."""
        self._closed = True
        with anyio.CancelScope(shield=True):
            if self._lock is None:
                await self._stack.aclose()
                return
            async with self._lock:
                await self._stack.aclose()

    def _failure_message(self, context: Any, error: Exception) -> str:
        if self.launch_failure is not None:
            # Stop the run: the request fails as it did when the server was launched up front.
            raise LaunchFailedError() from self.launch_failure
        return curated_tool_failure(context, error)
