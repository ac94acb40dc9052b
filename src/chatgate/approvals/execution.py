"""At most once: an approved call is recorded as sent before it reaches the tool server, and its
output when it returns, so a retried resume never sends it again (`chatgate.approvals.store`).

The Agents SDK awaits `RunHooks.on_tool_start` before it invokes the tool, so the mark is durable
before anything can have run; `on_tool_end` gets what the tool returned.
"""

from __future__ import annotations

import json
from typing import Any

from agents import Agent, RunContextWrapper, Tool

from chatgate.approvals.records import PausedTurn
from chatgate.approvals.store import ApprovalStore
from chatgate.run_report import Timings, ToolClock
from chatgate.telemetry import Telemetry


class ApprovedCalls(ToolClock):
    """`ToolClock` for a resumed run that also records, per approved call of `paused`, that it was
    sent (`ApprovalStore.started`) and what it returned (`ApprovalStore.returned`)."""

    def __init__(
        self,
        timings: Timings,
        telemetry: Telemetry | None,
        *,
        store: ApprovalStore,
        owner: str,
        conversation_id: str,
        paused: PausedTurn,
    ) -> None:
        super().__init__(timings, telemetry)
        self._store = store
        self._owner = owner
        self._conversation_id = conversation_id
        self._approval_ids = {a.tool_call_id: a.id for a in paused.approvals if a.runs}
        self._returning: dict[str, str] = {}  # call id -> approval id, while the call runs
        self.sent: list[str] = []  # approval ids marked `ran` by this attempt

    async def on_tool_start(self, context: RunContextWrapper[Any], agent: Agent[Any], tool: Tool) -> None:
        approval_id = self._approval_ids.pop(_call_id(context), None)
        if approval_id is not None:
            await self._store.started(self._owner, self._conversation_id, approval_id)
            self.sent.append(approval_id)
            self._returning[_call_id(context)] = approval_id
        await super().on_tool_start(context, agent, tool)

    async def on_tool_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], tool: Tool, result: object
    ) -> None:
        await super().on_tool_end(context, agent, tool, result)
        approval_id = self._returning.pop(_call_id(context), None)
        if approval_id is not None:
            await self._store.returned(self._owner, self._conversation_id, approval_id, output_text(result))


def output_text(result: object) -> str:
    """A tool's result as the text the model read (what a retry gives it again)."""
    if isinstance(result, str):
        return result
    if isinstance(result, list):
        return "".join(output_text(piece) for piece in result)
    text = result.get("text") if isinstance(result, dict) else getattr(result, "text", None)
    if isinstance(text, str):
        return text
    return json.dumps(result, default=str, ensure_ascii=False)


def _call_id(context: RunContextWrapper[Any]) -> str:
    return str(getattr(context, "tool_call_id", "") or "")
