"""Tool-server launches and admission measured by wrapping them, so the launchers stay untouched."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from agents.mcp import MCPServer as AgentsMCPServer
from mcp.types import Tool as MCPTool

from chatgate.admission import Admission
from chatgate.auth.principal import Principal
from chatgate.errors import SaturatedError
from chatgate.launcher import Launcher
from chatgate.telemetry import Telemetry


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
        session = self.inner.launch(principal, request_id=request_id, extra_env=extra_env)
        with tracing.span("chatgate.launch", {"chatgate.launcher": self.name}):
            try:
                server = await session.__aenter__()
            except BaseException:
                if metrics is not None:
                    metrics.tool_server_launches.labels("failed").inc()
                raise
        if metrics is not None:
            metrics.tool_server_launches.labels("ok").inc()
            metrics.tool_servers_live.inc()
        failure: BaseException | None = None
        try:
            yield server
        except BaseException as exc:
            failure = exc
            raise
        finally:
            try:
                with tracing.span("chatgate.teardown"):
                    if failure is None:
                        await session.__aexit__(None, None, None)
                    else:
                        await session.__aexit__(type(failure), failure, failure.__traceback__)
            finally:
                if metrics is not None:
                    metrics.tool_servers_live.dec()


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
