"""The fork launcher: single-use tool servers forked from a warm template process.

The exec launcher pays an interpreter start and the SDK imports for every request (about a second
of CPU). Here one template process pays them once (`chatgate.forkserver.template`): it imports and
warms everything, builds the tool server unbound, and keeps spare children forked. A request sends
its child environment — the same allowlist the exec launcher builds — over a private, authenticated
channel; a spare binds it and runs the same `serve_stdio`, so what a tool sees is identical. Per
request this costs a few KiB of protocol and the copy-on-write pages the child touches.

Off the request path: the template's warm-up, its tool list (seeded into each session's cache, so
`list_tools` costs no round trip), forking (spares), restarts after a crash (a watcher notices EOF
on its stdout), and the child's exit: leaving a session closes the pipes (the child reads EOF and
exits, the template reaps it) and unwinds the SDK's client task after the response; a child that
does not exit is signalled through the pidfd the template sent with its pipes.

Failure behavior: a dead or unreachable template fails `launch` with `ToolServerStartError` and is
replaced; a template crash kills its children (PDEATHSIG), so a session in use sees its stream end.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import anyio
from agents.mcp import MCPServer as AgentsMCPServer
from mcp.types import Tool as MCPTool

from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.forkserver.protocol import WARM_UP_USER
from chatgate.launcher.base import ToolServerStartError
from chatgate.launcher.environment import child_environment
from chatgate.launcher.session import PipeMCPServer, close_session, connect_within
from chatgate.launcher.template_client import TemplateProcess, TemplateUnavailableError
from chatgate.tool_outcomes import curated_tool_failure, record_tool_outcome

logger = logging.getLogger(__name__)

# The template imports the SDK and runs one in-memory session; on a loaded 2-core box that is seconds.
TEMPLATE_START_TIMEOUT_SECONDS = 60.0
STOP_CLEANUP_SECONDS = 5.0
# The template's environment needs the tool configuration, not a user: a placeholder no child serves.
TEMPLATE_PRINCIPAL = Principal(WARM_UP_USER)


class ForkLauncher:
    """Forks each request's tool server from a warm template (Linux)."""

    name = "fork"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._template: TemplateProcess | None = None
        self._lock: anyio.Lock | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stopped = False
        self._cleanups: set[asyncio.Task[None]] = set()

    @property
    def template_pid(self) -> int | None:
        """The running template's pid (for tests and the benchmark)."""
        return self._template.pid if self._template is not None and self._template.alive() else None

    async def start(self) -> None:
        self._stopped = False
        await self._ensure_template()

    async def stop(self) -> None:
        self._stopped = True
        if self._cleanups:
            await asyncio.wait(set(self._cleanups), timeout=STOP_CLEANUP_SECONDS)
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if self._template is not None:
            template, self._template = self._template, None
            await anyio.to_thread.run_sync(template.terminate)

    async def catalog(self) -> list[MCPTool]:
        """The template's tool list: what every child lists (registration ignores the identity)."""
        try:
            with anyio.fail_after(self._settings.mcp_connect_timeout_seconds):
                template = await self._ensure_template()
        except (TimeoutError, TemplateUnavailableError) as exc:
            logger.warning("fork template unavailable: %s", exc)
            raise ToolServerStartError("tool server failed to start") from exc
        return template.tools

    @asynccontextmanager
    async def launch(
        self, principal: Principal, *, request_id: str, extra_env: Mapping[str, str] | None = None
    ) -> AsyncIterator[AgentsMCPServer]:
        settings = self._settings
        env = child_environment(settings, principal, request_id=request_id, extra_env=extra_env)
        try:
            with anyio.fail_after(settings.mcp_connect_timeout_seconds):
                template = await self._ensure_template()
                process = await template.fork_child(env, str(settings.state_dir.resolve()))
        except (TimeoutError, TemplateUnavailableError) as exc:
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "-"
            logger.warning("fork template unavailable: %s (%s: %s)", exc, cause, exc.__cause__)
            raise ToolServerStartError("tool server failed to start") from exc
        # No await between receiving the child and this `try`: from here on, every exit tears down.
        server = PipeMCPServer(
            process,
            tools=template.tools,
            name="chatgate",
            cache_tools_list=True,
            client_session_timeout_seconds=settings.mcp_tool_timeout_seconds,
            failure_error_function=curated_tool_failure,
            custom_data_extractor=record_tool_outcome,
        )
        try:
            await connect_within(server, settings.mcp_connect_timeout_seconds)
            yield server
        finally:
            # Closing the pipes is the teardown that matters: the child reads EOF and exits, and the
            # template reaps it. The rest (unwinding the SDK's client task, and SIGTERM/SIGKILL for a
            # child that does not exit) runs after the response instead of before it.
            process.pipes.close()
            self._close_later(server)

    def _close_later(self, server: PipeMCPServer) -> None:
        task = asyncio.get_running_loop().create_task(close_session(server))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _ensure_template(self) -> TemplateProcess:
        if self._template is not None and self._template.alive():
            return self._template
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._template is not None and self._template.alive():
                return self._template
            if self._template is not None:
                dead, self._template = self._template, None
                # Reap it (it may still be exiting) and remove its socket directory, off the loop.
                await anyio.to_thread.run_sync(dead.reap)
                dead.release()
            # No `extra_env`: the request that happens to (re)start the template carries its user's
            # API secrets, and the template's environment must not.
            base_env = child_environment(self._settings, TEMPLATE_PRINCIPAL, request_id="template")
            template = await TemplateProcess.start(
                base_env=base_env,
                cwd=self._settings.state_dir.resolve(),
                memory_mb=self._settings.mcp_child_memory_mb,
                lifetime=self._settings.mcp_child_lifetime_seconds,
                spares=self._settings.mcp_fork_spares,
                warm_up_limit=TEMPLATE_START_TIMEOUT_SECONDS,
            )
            if self._stopped:  # stop() ran while this one warmed up
                template.kill()
                raise TemplateUnavailableError("fork launcher is stopped")
            self._template = template
            self._watch(template)
            return template

    def _watch(self, template: TemplateProcess) -> None:
        """Restart the template as soon as it dies, so the next request finds it warm."""
        if self._watcher is not None and self._watcher is not asyncio.current_task():
            self._watcher.cancel()
        # A fresh context: the watcher outlives the request that started the template.
        self._watcher = asyncio.get_running_loop().create_task(
            self._restart_when_dead(template), context=contextvars.Context()
        )

    async def _restart_when_dead(self, template: TemplateProcess) -> None:
        await template.wait_closed()
        if self._stopped or self._template is not template:
            return
        logger.error("fork template %d died; restarting it", template.pid)
        try:
            await self._ensure_template()
        except TemplateUnavailableError:
            logger.exception("fork template restart failed; the next request retries")
