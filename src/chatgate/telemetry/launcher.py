"""Tool-server launches and admission measured by wrapping them, so the launchers stay untouched."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from agents.mcp import MCPServer as AgentsMCPServer
from mcp.types import Tool as MCPTool

from chatgate.admission import Admission
from chatgate.auth.principal import Principal
from chatgate.errors import SaturatedError
from chatgate.launcher import Launcher
from chatgate.telemetry import Telemetry

if TYPE_CHECKING:
    from opentelemetry.trace import Span


class ObservedLauncher:
    """`inner`, with live tool servers counted and launch and teardown traced."""

    def __init__(self, inner: Launcher, telemetry: Telemetry) -> None:
        self.inner = inner
        self.name = inner.name
        self._telemetry = telemetry

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def catalog(self) -> list[MCPTool]:
        return await self.inner.catalog()

    @asynccontextmanager
    async def launch(
        self, principal: Principal, *, request_id: str, extra_env: Mapping[str, str] | None = None
    ) -> AsyncIterator[AgentsMCPServer]:
        metrics, tracing = self._telemetry.metrics, self._telemetry.tracing
        teardown = _Teardown(self._telemetry)
        async with AsyncExitStack() as stack:
            # Exits run last in, first out: `teardown` brackets the launch's own exit, which sees
            # (and may suppress or replace) whatever ends the block, cancellation included.
            stack.push(teardown.ended)
            with tracing.span("chatgate.launch", {"chatgate.launcher": self.name}):
                try:
                    server = await stack.enter_async_context(
                        self.inner.launch(principal, request_id=request_id, extra_env=extra_env)
                    )
                except BaseException:
                    if metrics is not None:
                        metrics.tool_server_launches.labels("failed").inc()
                    raise
            teardown.launched()
            stack.push(teardown.begins)
            yield server


class _Teardown:
    """The live-server count and the `chatgate.teardown` span of one launch, from its exit stack.

    `begins` is pushed after the launch and `ended` before it, so they run just before and just
    after the launch's own exit. The span is an error when that exit raised (not when it merely
    let the block's own exception through).
    """

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        self._live = False
        self._span: Span | None = None
        self._passing: BaseException | None = None  # what ended the block, handed to the exit

    def launched(self) -> None:
        metrics = self._telemetry.metrics
        if metrics is not None:
            metrics.tool_server_launches.labels("ok").inc()
            metrics.tool_servers_live.inc()
        self._live = True

    def begins(self, _type: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> bool:
        self._passing = exc
        self._span = self._telemetry.tracing.start("chatgate.teardown")
        return False  # never suppresses

    def ended(self, _type: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> bool:
        if self._live:
            self._telemetry.tracing.end(self._span, error=exc is not None and exc is not self._passing)
            if self._telemetry.metrics is not None:
                self._telemetry.metrics.tool_servers_live.dec()
        return False


class ObservedAdmission(Admission):
    """`Admission`, with the wait for a slot timed and refusals counted."""

    def __init__(self, limit: int, wait_seconds: float, telemetry: Telemetry) -> None:
        super().__init__(limit, wait_seconds)
        self._metrics = telemetry.metrics
        if self._metrics is not None:
            self._metrics.watch_admission(lambda: self.in_use, limit)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        admitted = False
        try:
            async with super().slot():
                admitted = True
                if self._metrics is not None:
                    self._metrics.admission_wait_seconds.observe(time.perf_counter() - started)
                yield
        except SaturatedError:
            if not admitted and self._metrics is not None:
                self._metrics.admission_wait_seconds.observe(time.perf_counter() - started)
                self._metrics.admission_refusals.inc()
            raise
