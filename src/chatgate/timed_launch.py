"""One tool server for one unit of work, with its launch and teardown timed and start failures
translated into the catalogue (`ToolServerUnavailableError`, 503): launched now (`timed_launch`),
or at the first tool call (`lazy_launch`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from agents.mcp import MCPServer as AgentsMCPServer
from agents.mcp.server import RequireApprovalSetting

from chatgate.auth.principal import Principal
from chatgate.errors import ToolServerUnavailableError
from chatgate.launcher import Launcher, ToolServerError
from chatgate.launcher.lazy import LazyToolServer
from chatgate.run_report import Timings, ms_since

# Extra tool-server variables for one principal (API tools: that user's own credentials).
LaunchEnvironment = Callable[[Principal], Awaitable[Mapping[str, str]]]


@asynccontextmanager
async def timed_launch(
    launcher: Launcher,
    principal: Principal,
    *,
    request_id: str,
    timings: Timings,
    environment: LaunchEnvironment | None = None,
) -> AsyncIterator[AgentsMCPServer]:
    """`launcher.launch(...)` for `principal`, with `environment(principal)` as its extra environment.

    Adds to `timings.launch` (ms from reading the environment to a connected server, also when the
    launch fails) and `timings.teardown` (ms to tear the server down): a lazy launch comes after the
    operator MCP servers' launch time was counted.

    Raises:
        ToolServerUnavailableError: the tool server could not be started. A `ToolServerError` raised
            once the server is up (the caller's work, the teardown) passes through untranslated.
    """
    started = time.perf_counter()
    server: AgentsMCPServer | None = None
    teardown_started: float | None = None
    try:
        extra_env = await environment(principal) if environment is not None else {}
        async with launcher.launch(principal, request_id=request_id, extra_env=extra_env) as server:
            timings.launch += ms_since(started)
            try:
                yield server
            finally:
                teardown_started = time.perf_counter()
    except ToolServerError as exc:
        if server is None:
            raise ToolServerUnavailableError() from exc
        raise
    finally:
        if server is None:
            timings.launch += ms_since(started)
        elif teardown_started is not None:
            timings.teardown += ms_since(teardown_started)


async def lazy_launch(
    launcher: Launcher,
    principal: Principal,
    *,
    request_id: str,
    timings: Timings,
    environment: LaunchEnvironment | None = None,
    tool_timeout: float,
    require_approval: RequireApprovalSetting = None,
) -> LazyToolServer:
    """A `LazyToolServer` listing `launcher`'s catalog, which `timed_launch`es the server for
    `principal` at its first tool call (`tool_timeout`: seconds per call; `require_approval`: which
    calls wait for the user, as the SDK's MCP servers take it). The caller `cleanup()`s it.

    Raises:
        ToolServerUnavailableError: the catalog cannot be had (the fork template does not start).
    """
    try:
        catalog = await launcher.catalog()
    except ToolServerError as exc:
        raise ToolServerUnavailableError() from exc

    def open_server() -> AbstractAsyncContextManager[AgentsMCPServer]:
        return timed_launch(
            launcher, principal, request_id=request_id, timings=timings, environment=environment
        )

    return LazyToolServer(
        catalog, open_server, tool_timeout_seconds=tool_timeout, require_approval=require_approval
    )
