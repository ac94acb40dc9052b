"""An MCP client session over a tool server's pipes, with a lifecycle cancellation cannot break.

`PipeMCPServer` is the Agents SDK's `MCPServerStdio` speaking over a `ToolProcess`'s pipes (both
launchers: exec spawns the process, fork gets it from the template). `connect_within` and
`close_session` are the only ways in and out, and they hold up whatever happens around them:

Why the SDK's `connect` and `cleanup` run in tasks of their own: with MCP v2 the SDK runs the
client in a separate asyncio task and, when `connect` is cancelled, cancels that task and awaits
it. An anyio cancel scope re-delivers its cancellation on every turn of the event loop, and each
delivery to a task that awaits another task cancels that task again; the client's shielded
shutdown never completes, and the request, its tool server, its admission slot and its claim on
the conversation hang forever while the loop spins. Here each SDK lifecycle call runs in its own
task, cancelled at most once, and the caller only waits on an event. Whatever the SDK then does,
`ToolProcess.stop` ends the process.

A tool server that dies while the agent still needs it surfaces as `ToolServerLostError` (the
request gets a 503) when the SDK must list its tools; a tool call to it is a tool error the model
reads (`curated_tool_failure`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
from agents.mcp import MCPServerStdio, MCPToolMetaContext
from agents.mcp.server import MCPStreamTransport
from mcp.types import ProgressNotification
from mcp.types import Tool as MCPTool

from chatgate.launcher.base import ToolServerLostError, ToolServerStartError
from chatgate.launcher.pipes import pipe_transport
from chatgate.launcher.process import STOP_GRACE_SECONDS, ToolProcess
from chatgate.launcher.sdk_private import seed_tools_cache
from chatgate.tool_outcomes import leaf_exception

logger = logging.getLogger(__name__)

# The SDK's own unwinding (closing its session, ending its client task) after the pipes are closed.
SDK_CLEANUP_SECONDS = 5.0
# How long a cancelled `connect` may take to unwind before the caller goes on without it.
SDK_UNWIND_SECONDS = 5.0

# Receives `(tool call id, progress, total, message)` for each progress notification of a call.
ProgressSink = Callable[[str, float, float | None, str | None], Awaitable[None]]

# Strong references to the SDK tasks started here: the event loop keeps only weak ones, and a task
# collected while pending is logged as "Task was destroyed but it is pending!".
_running: set[asyncio.Task[Any]] = set()


class PipeMCPServer(MCPServerStdio):
    """`MCPServerStdio` whose transport is a `ToolProcess`'s pipes.

    `tools` is the tool list when it is known ahead (the fork template's: identical for every
    child); with it, `list_tools` is answered from the cache instead of costing a round trip.

    `progress_sink`, when set (a streamed chat), receives the progress a tool reports: each call
    carries its tool call id as the MCP progress token, and the server's progress notifications
    come back as `(tool call id, progress, total, message)`.
    """

    def __init__(self, process: ToolProcess, *, tools: list[MCPTool] | None = None, **kwargs: Any) -> None:
        super().__init__(
            params={"command": "chatgate-tool-server", "args": []},
            message_handler=self._on_message,
            tool_meta_resolver=self._progress_token,
            **kwargs,
        )
        self.process = process
        self._preloaded_tools = tools
        self.progress_sink: ProgressSink | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def create_streams(self) -> AbstractAsyncContextManager[MCPStreamTransport]:
        return pipe_transport(self.process.pipes)

    async def connect(self) -> None:
        await super().connect()  # type: ignore[no-untyped-call]
        if self._preloaded_tools is not None:
            seed_tools_cache(self, self._preloaded_tools)

    async def list_tools(self, run_context: Any = None, agent: Any = None) -> list[MCPTool]:
        """The server's tools; a server that cannot list them is gone (`ToolServerLostError`)."""
        try:
            return await super().list_tools(run_context, agent)
        except Exception as exc:
            logger.warning(
                "tool server %d did not list its tools: %s", self.pid, type(leaf_exception(exc)).__name__
            )
            raise ToolServerLostError("the tool server stopped answering") from None

    def _progress_token(self, context: MCPToolMetaContext) -> dict[str, Any] | None:
        return progress_meta(context) if self.progress_sink is not None else None

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, ProgressNotification) and self.progress_sink is not None:
            params = message.params
            if isinstance(params.progress_token, str):
                await self.progress_sink(params.progress_token, params.progress, params.total, params.message)

    async def cleanup(self) -> None:
        try:
            await super().cleanup()  # type: ignore[no-untyped-call]
        finally:
            self.process.pipes.close()


async def connect_within(server: PipeMCPServer, limit_seconds: float) -> None:
    """Complete the MCP handshake within `limit_seconds`; the caller tears down on any exit.

    Raises:
        ToolServerStartError: the process died or did not complete the handshake in time.
        Cancellation: propagated as is, after the SDK's connect was cancelled (once).
    """
    try:
        task = await _in_own_task(server.connect(), limit_seconds)
    except TimeoutError as exc:
        raise ToolServerStartError(f"tool server did not start within {limit_seconds:g}s") from exc
    error = task.exception() if not task.cancelled() else asyncio.CancelledError()
    if error is not None:
        cause = leaf_exception(error)
        logger.warning("tool server failed to start: %s", type(cause).__name__)
        raise ToolServerStartError("tool server failed to start") from cause


async def close_session(server: PipeMCPServer) -> None:
    """End the session and the process, whatever state they are in. Shielded; never raises."""
    with anyio.CancelScope(shield=True):
        # A child that never completed the handshake has served nothing: no need to wait for it.
        grace = STOP_GRACE_SECONDS if server.session is not None else 0.0
        server.process.pipes.close()  # the child reads EOF; the SDK's reader sees the end
        try:
            task = await _in_own_task(server.cleanup(), SDK_CLEANUP_SECONDS)
            error = task.exception() if not task.cancelled() else None
            if error is not None:
                logger.debug("MCP client cleanup failed: %s", type(leaf_exception(error)).__name__)
        except TimeoutError:
            logger.warning("MCP client cleanup exceeded %.0fs", SDK_CLEANUP_SECONDS)
        await server.process.stop(grace)


async def _in_own_task(coroutine: Coroutine[Any, Any, Any], limit_seconds: float) -> asyncio.Task[Any]:
    """Run `coroutine` in a task of its own and wait for it, at most `limit_seconds`.

    The caller waits on an event, never on the task itself, so cancelling the caller (as often as
    anyio likes) cancels the task exactly once. Returns the finished task (result or exception).

    Raises:
        TimeoutError: the limit passed (the task was cancelled once and given time to unwind).
        Cancellation: the caller was cancelled (so was the task, once).
    """
    task = asyncio.get_running_loop().create_task(coroutine)
    _running.add(task)
    task.add_done_callback(_forget)
    done = anyio.Event()
    task.add_done_callback(lambda _: done.set())
    try:
        with anyio.fail_after(limit_seconds):
            await done.wait()
    except BaseException:
        task.cancel()
        with anyio.CancelScope(shield=True), anyio.move_on_after(SDK_UNWIND_SECONDS):
            await done.wait()
        raise
    return task


def _forget(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so an abandoned failure is not logged as "never retrieved"


def progress_meta(context: MCPToolMetaContext) -> dict[str, Any] | None:
    """The MCP `_meta` asking a tool server for progress on this call: the tool call id as the
    progress token (the SDK invokes MCP tools with a `ToolContext`, which knows the call's id)."""
    call_id = getattr(context.run_context, "tool_call_id", None)
    return {"progressToken": call_id} if isinstance(call_id, str) and call_id else None
