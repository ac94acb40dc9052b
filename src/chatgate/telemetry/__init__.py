"""Metrics and traces of one app, passed explicitly to what reports them.

`Telemetry` bundles the app's `Metrics` (None when `METRICS_ENABLED=false`) and `Tracing` (a no-op
unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set). The chat path reports through a few seams that wrap
collaborators rather than edit them: the launcher (`ObservedLauncher`), the model
(`observed_provider`), the admission gate (`ObservedAdmission`), the SDK run hooks (tool calls), and
the chat intake (outcomes, phases, rate limits, drain).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from chatgate.telemetry.metrics import Metrics
from chatgate.telemetry.tracing import Tracing

__all__ = ["Metrics", "Telemetry", "ToolCallTrace", "Tracing"]


@dataclass(frozen=True)
class ToolCallTrace:
    """One tool call being measured: what `tool_call_started` hands back to `tool_call_finished`."""

    tool: str
    started: float
    span: Any


@dataclass
class Telemetry:
    metrics: Metrics | None = None
    tracing: Tracing = field(default_factory=Tracing)

    def tool_call_started(self, tool: str) -> ToolCallTrace:
        """A tool call began (SDK `on_tool_start`); `tool` is its catalog name."""
        span = self.tracing.start("chatgate.tool_call", {"chatgate.tool": tool})
        return ToolCallTrace(tool=tool, started=time.perf_counter(), span=span)

    def tool_call_finished(self, call: ToolCallTrace, *, ok: bool) -> None:
        """The call ended; `ok` is the tool's own verdict (an MCP error result or a failure is not ok)."""
        outcome = "ok" if ok else "error"
        if self.metrics is not None:
            self.metrics.tool_calls.labels(self.metrics.tool_label(call.tool), outcome).inc()
            self.metrics.tool_call_seconds.observe(time.perf_counter() - call.started)
        self.tracing.end(call.span, {"chatgate.tool.outcome": outcome}, error=not ok)
