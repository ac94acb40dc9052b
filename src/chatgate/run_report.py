"""What a chat run reports: timings, tools used, token usage, and the final text."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agents import Agent, ItemHelpers, RunContextWrapper, RunHooks, Tool
from agents.items import ToolCallItem, ToolCallOutputItem
from agents.result import RunResultBase

from chatgate.telemetry import Telemetry, ToolCallTrace
from chatgate.tool_outcomes import TOOL_OK_KEY


@dataclass(frozen=True)
class ToolUse:
    name: str
    ok: bool


@dataclass
class Timings:
    """Milliseconds: launching the tool server, the agent run (model + tools), tearing down."""

    launch: float = 0.0
    run: float = 0.0
    teardown: float = 0.0
    tools: float = 0.0  # wall time with at least one tool call in flight (part of `run`)

    @property
    def model(self) -> float:
        return max(0.0, self.run - self.tools)

    def as_dict(self) -> dict[str, float]:
        return {
            "launch": round(self.launch, 1),
            "run": round(self.run, 1),
            "teardown": round(self.teardown, 1),
        }


@dataclass
class ChatResult:
    conversation_id: str
    response: str
    agent_used: str
    tools_used: list[ToolUse]
    usage: dict[str, int]
    timings: Timings = field(default_factory=Timings)
    message_id: str = ""  # the answer's id in the conversation's thread
    # The tool calls the run stopped at, waiting for the user (`chatgate.approvals.store.Approval`).
    approvals: list[Any] = field(default_factory=list)

    @property
    def status(self) -> str:
        """`awaiting_approval` while calls wait for the user, else `completed`."""
        return "awaiting_approval" if self.approvals else "completed"


class ToolClock(RunHooks[Any]):
    """Measures the wall time during which tools run (concurrent calls counted once), and reports
    each call to `telemetry` when given (metrics by tool and outcome, a span per call)."""

    def __init__(self, timings: Timings, telemetry: Telemetry | None = None) -> None:
        self._timings = timings
        self._in_flight = 0
        self._since = 0.0
        self._telemetry = telemetry
        self._calls: dict[str, ToolCallTrace] = {}

    async def on_tool_start(self, context: RunContextWrapper[Any], agent: Agent[Any], tool: Tool) -> None:
        if self._in_flight == 0:
            self._since = time.perf_counter()
        self._in_flight += 1
        if self._telemetry is not None:
            self._calls[_call_id(context)] = self._telemetry.tool_call_started(tool.name)

    async def on_tool_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], tool: Tool, result: object
    ) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        if self._in_flight == 0:
            self._timings.tools += ms_since(self._since)
        call = self._calls.pop(_call_id(context), None)
        if self._telemetry is not None and call is not None:
            # The SDK keeps the MCP result's custom data (our ok flag) on the tool context and offers
            # no public reader at this hook; a call that failed below the tool has none: not ok.
            custom = getattr(context, "_custom_data", None)
            self._telemetry.tool_call_finished(call, ok=bool((custom or {}).get(TOOL_OK_KEY, False)))


def _call_id(context: RunContextWrapper[Any]) -> str:
    return str(getattr(context, "tool_call_id", "") or id(context))


def tools_used(
    result: RunResultBase, known: dict[str, str] | None = None, ok_calls: frozenset[str] = frozenset()
) -> list[ToolUse]:
    """The tools the agent called, in order, with whether each succeeded (`known`: tool names by
    call id of calls made before this run, e.g. the approved calls of a resumed run; `ok_calls`:
    call ids whose output is a successful one given again, not the tool's, e.g. a retried resume's)."""
    names: dict[str, str] = dict(known or {})
    used: list[ToolUse] = []
    for item in result.new_items:
        if isinstance(item, ToolCallItem):
            call_id = getattr(item.raw_item, "call_id", None)
            name = getattr(item.raw_item, "name", None)
            if isinstance(call_id, str) and isinstance(name, str):
                names[call_id] = name
        elif isinstance(item, ToolCallOutputItem):
            answered = str(_output_call_id(item))
            ok = _succeeded(item) or answered in ok_calls
            used.append(ToolUse(name=names.get(answered, "unknown"), ok=ok))
    return used


def failed_calls(result: RunResultBase | None) -> list[str]:
    """The call ids of the tool calls that failed (an MCP error, or no result at all)."""
    if result is None:
        return []
    return [
        call_id
        for item in result.new_items
        if isinstance(item, ToolCallOutputItem)
        and not _succeeded(item)
        and isinstance(call_id := _output_call_id(item), str)
    ]


def _output_call_id(item: ToolCallOutputItem) -> object:
    raw = item.raw_item
    return raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)


def _succeeded(item: ToolCallOutputItem) -> bool:
    # The launcher records MCP's `is_error` on the item; a call that failed below the tool has none.
    return bool((item.custom_data or {}).get(TOOL_OK_KEY, False))


def usage_of(result: RunResultBase | None) -> dict[str, int]:
    if result is None:
        return {"requests": 0, "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    usage = result.context_wrapper.usage
    return {
        "requests": usage.requests,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def final_text(result: RunResultBase) -> str:
    """The answer; for a run paused before its answer, what the model said before the paused calls."""
    output = result.final_output
    if output is None:
        return ItemHelpers.text_message_outputs(result.new_items)
    return output if isinstance(output, str) else str(output)


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
