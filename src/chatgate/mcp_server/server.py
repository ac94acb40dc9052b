"""Builds the tool server for one bound identity and serves it over stdio."""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from fnmatch import fnmatchcase
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult
from mcp.types import Tool as MCPTool

from chatgate.files import FileSpace
from chatgate.http_apis.catalog import read_catalog
from chatgate.http_apis.client import ApiClient
from chatgate.mcp_server.concurrency import BUSY_MESSAGE, CallGate, is_exhaustion
from chatgate.mcp_server.context import ToolResources
from chatgate.mcp_server.settings import ChildSettings, IdentityMissingError
from chatgate.mcp_server.stdio_pipes import stdio_streams
from chatgate.mcp_server.tools import register_all
from chatgate.mcp_server.tools.apis import api_tools
from chatgate.observability import request_id_var

logger = logging.getLogger("chatgate.mcp_server")

SERVER_NAME = "chatgate"
CLOSE_RESOURCES_SECONDS = 5.0
INSTRUCTIONS = (
    "Tools over the signed-in user's own data. Every tool acts for that user only; no tool takes a user id."
)


class StrictMCPServer(MCPServer[ToolResources]):
    """An `MCPServer` that rejects arguments its tools do not declare.

    The SDK's argument models ignore unknown keys. Here an invented key (a `user_id` smuggled in by
    a prompt injection, say) is an error the model sees, and the advertised schemas say so too.

    It also bounds how many calls run at once (`chatgate.mcp_server.concurrency`).
    """

    _bound_settings: ChildSettings | None = None
    _gate: CallGate | None = None

    def bind(self, settings: ChildSettings) -> None:
        """Fix the one identity this server acts for; a server is bound once and never rebound."""
        if self._bound_settings is not None:
            raise RuntimeError("tool server is already bound to an identity")
        self._bound_settings = settings
        self._gate = CallGate()  # per served process (a fork template's server is bound in each child)

    @property
    def bound_settings(self) -> ChildSettings:
        """The bound settings. Raises `IdentityMissingError` if `bind` was never called."""
        if self._bound_settings is None:
            raise IdentityMissingError("tool server started without a bound identity")
        return self._bound_settings

    def tool_names(self) -> list[str]:
        """The names of the tools this server serves, in registration order."""
        return [tool.name for tool in self._tool_manager.list_tools()]

    def input_schema(self, name: str) -> dict[str, Any] | None:
        """The input schema of the tool `name` as registered, or None when there is no such tool."""
        return self._tool_input_schema(name)

    def keep_only(self, patterns: list[str]) -> None:
        """Unregister every tool no pattern (an `fnmatch` glob) matches.

        A tool no agent may use is then neither listed nor callable here: a call to it is refused by
        this process as an unknown tool, whatever the API process lets through.
        """
        for name in self.tool_names():
            if not any(fnmatchcase(name, pattern) for pattern in patterns):
                self.remove_tool(name)

    async def list_tools(self) -> list[MCPTool]:
        tools = await super().list_tools()
        strict: list[MCPTool] = []
        for tool in tools:
            schema = copy.deepcopy(tool.input_schema)
            schema["additionalProperties"] = False
            schema.pop("title", None)
            strict.append(tool.model_copy(update={"input_schema": schema}))
        return strict

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[ToolResources, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        schema = self._tool_input_schema(name)
        if schema is not None:
            unknown = sorted(set(arguments) - set(schema.get("properties", {})))
            if unknown:
                allowed = ", ".join(sorted(schema.get("properties", {}))) or "none"
                raise ToolError(f"unknown argument(s) {', '.join(unknown)}; this tool accepts: {allowed}")
        if self._gate is None:
            self._gate = CallGate()
        async with self._gate.admit():
            try:
                return await super().call_tool(name, arguments, context)
            except UnexpectedToolError as exc:
                if is_exhaustion(exc):
                    raise ToolError(BUSY_MESSAGE) from None
                raise


def build_server(settings: ChildSettings, *, bind: bool = True) -> StrictMCPServer:
    """The tool server for `settings.identity`; resources open when it starts serving.

    With `bind=False` only the tool configuration in `settings` is used and the server is left
    unbound (the fork template builds one before any user exists); `StrictMCPServer.bind` must then
    fix the identity before it serves, or the lifespan refuses to start.
    """

    # The API catalog is compiled by the parent; its operations are tools with document-made schemas.
    catalog = read_catalog(settings.apis_catalog)

    @asynccontextmanager
    async def lifespan(server: MCPServer[ToolResources]) -> AsyncIterator[ToolResources]:
        assert isinstance(server, StrictMCPServer)
        settings = server.bound_settings  # raises unless an identity was bound
        files = None
        if settings.files_root is not None:
            files = FileSpace(settings.files_root, settings.identity.user_id, settings.files_limits)
        api_client = ApiClient() if catalog.apis else None
        # The engine is created by the first database tool call (no schema work: the parent migrates).
        resources = ToolResources(
            settings=settings, files=files, database_url=settings.database_url, api_client=api_client
        )
        try:
            yield resources
        finally:
            # The session usually ends by cancellation (the client closed stdin): close what was
            # opened anyway, shielded and bounded, instead of leaving it half-closed.
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_RESOURCES_SECONDS):
                if api_client is not None:
                    await api_client.aclose()
                if resources.database is not None:
                    await resources.database.dispose()

    server = StrictMCPServer(
        SERVER_NAME,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=_sdk_log_level(settings.log_level),
        tools=api_tools(catalog),
    )
    register_all(server, settings, catalog)
    if bind:
        server.bind(settings)
    return server


async def serve_stdio(settings: ChildSettings, server: StrictMCPServer | None = None) -> None:
    """Serve one session on this process's stdin/stdout until the client closes stdin.

    `server` is an unbound server built ahead of time (the fork template's); it is bound here.
    """
    if server is None:
        server = build_server(settings)
    else:
        server.bind(settings)
    request_id_var.set(settings.request_id)  # every log line of this process names its request
    try:
        # What `run_stdio_async` does, over `stdio_streams` instead of the SDK's thread-backed stdio.
        lowlevel = server._lowlevel_server
        async with stdio_streams() as (read_stream, write_stream):
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
    except* (BrokenPipeError, ConnectionResetError):
        # The client left while an answer was on its way (a request cancelled mid-call): that is how
        # sessions end, not a failure of this server.
        logger.debug("client left before the last answer was written")


def _sdk_log_level(level: str) -> Any:
    upper = level.upper()
    return upper if upper in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"} else "WARNING"
