"""`ObservedLauncher` keeps the launch's context-manager protocol: the launch's exit sees what ended
the block (cancellation included) and may suppress or replace it, while the live-server count and
the launch and teardown spans are kept on every path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
from agents.mcp import MCPServer as AgentsMCPServer

from chatgate.auth.principal import Principal
from chatgate.telemetry import Metrics, Telemetry, Tracing
from chatgate.telemetry.launcher import ObservedLauncher

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode


class Refused(Exception):
    pass


class TeardownFailed(Exception):
    pass


class ScriptedLauncher:
    """A launcher whose launch records what its exit was handed and does what it is told there."""

    name = "scripted"

    def __init__(self, *, refuse: bool = False, suppress: bool = False, fail_teardown: bool = False) -> None:
        self.refuse, self.suppress, self.fail_teardown = refuse, suppress, fail_teardown
        self.exit_saw: list[BaseException | None] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def catalog(self) -> list[Any]:
        return []

    @asynccontextmanager
    async def launch(
        self, principal: Principal, *, request_id: str, extra_env: Mapping[str, str] | None = None
    ) -> AsyncIterator[AgentsMCPServer]:
        if self.refuse:
            raise Refused()
        try:
            yield object()  # type: ignore[misc]  # never used as a server here
        except BaseException as exc:
            self.exit_saw.append(exc)
            if self.fail_teardown:
                raise TeardownFailed() from exc
            if not self.suppress:
                raise
        else:
            self.exit_saw.append(None)
            if self.fail_teardown:
                raise TeardownFailed()


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


def observed(inner: ScriptedLauncher, exporter: InMemorySpanExporter) -> tuple[ObservedLauncher, Metrics]:
    metrics = Metrics()
    telemetry = Telemetry(metrics=metrics, tracing=Tracing.exporting_to(exporter))
    return ObservedLauncher(inner, telemetry), metrics  # type: ignore[arg-type]


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels or None)
    return float(value or 0.0)


def spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


ALICE = Principal(user_id="alice")


async def test_a_clean_block_exits_the_launch_cleanly(exporter: InMemorySpanExporter) -> None:
    inner = ScriptedLauncher()
    launcher, metrics = observed(inner, exporter)
    async with launcher.launch(ALICE, request_id="r1"):
        assert sample(metrics, "chatgate_tool_servers_live") == 1
    assert inner.exit_saw == [None]
    assert sample(metrics, "chatgate_tool_servers_live") == 0
    assert sample(metrics, "chatgate_tool_server_launches_total", result="ok") == 1
    finished = spans(exporter)
    assert finished["chatgate.launch"].status.status_code is StatusCode.UNSET
    assert finished["chatgate.teardown"].status.status_code is StatusCode.UNSET


async def test_the_blocks_exception_reaches_the_launch_and_the_caller(exporter: InMemorySpanExporter) -> None:
    inner = ScriptedLauncher()
    launcher, metrics = observed(inner, exporter)
    boom = ValueError("from the block")
    with pytest.raises(ValueError) as raised:
        async with launcher.launch(ALICE, request_id="r1"):
            raise boom
    assert raised.value is boom and inner.exit_saw == [boom]
    assert sample(metrics, "chatgate_tool_servers_live") == 0
    # The teardown itself went fine: its span is no error for passing the block's exception on.
    assert spans(exporter)["chatgate.teardown"].status.status_code is StatusCode.UNSET


async def test_cancellation_reaches_the_launch_and_propagates(exporter: InMemorySpanExporter) -> None:
    inner = ScriptedLauncher()
    launcher, metrics = observed(inner, exporter)
    entered = asyncio.Event()

    async def hold() -> None:
        async with launcher.launch(ALICE, request_id="r1"):
            entered.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(hold())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(inner.exit_saw) == 1 and isinstance(inner.exit_saw[0], asyncio.CancelledError)
    assert sample(metrics, "chatgate_tool_servers_live") == 0


async def test_a_launch_that_suppresses_the_exception_is_obeyed(exporter: InMemorySpanExporter) -> None:
    inner = ScriptedLauncher(suppress=True)
    launcher, metrics = observed(inner, exporter)
    async with launcher.launch(ALICE, request_id="r1"):
        raise ValueError("swallowed by the launch's exit")
    assert isinstance(inner.exit_saw[0], ValueError)
    assert sample(metrics, "chatgate_tool_servers_live") == 0


async def test_a_failing_teardown_replaces_the_exception_and_marks_its_span(
    exporter: InMemorySpanExporter,
) -> None:
    inner = ScriptedLauncher(fail_teardown=True)
    launcher, metrics = observed(inner, exporter)
    with pytest.raises(TeardownFailed):
        async with launcher.launch(ALICE, request_id="r1"):
            raise ValueError("the block's")
    assert sample(metrics, "chatgate_tool_servers_live") == 0
    assert spans(exporter)["chatgate.teardown"].status.status_code is StatusCode.ERROR


async def test_a_refused_launch_counts_as_failed_and_never_live(exporter: InMemorySpanExporter) -> None:
    launcher, metrics = observed(ScriptedLauncher(refuse=True), exporter)
    with pytest.raises(Refused):
        async with launcher.launch(ALICE, request_id="r1"):
            pytest.fail("a refused launch has no block")
    assert sample(metrics, "chatgate_tool_server_launches_total", result="failed") == 1
    assert sample(metrics, "chatgate_tool_servers_live") == 0
    finished = spans(exporter)
    assert finished["chatgate.launch"].status.status_code is StatusCode.ERROR
    assert "chatgate.teardown" not in finished
