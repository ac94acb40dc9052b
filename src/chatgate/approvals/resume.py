"""Pausing a run at its approvals and resuming it from the stored state with the user's decisions.

The state is the Agents SDK's own `RunState` (`to_json` / `from_json`), kept server-side only (the
SDK does not authenticate a snapshot, so a client never supplies one). What runs on approval is the
call stored in that state, checked against the arguments the user was shown: the model is not asked
again between the approval and the execution, so it cannot change them.
"""

from __future__ import annotations

from typing import Any

from agents import Agent, RunState
from agents.items import ToolApprovalItem
from agents.result import RunResult, RunResultStreaming

from chatgate.approvals.store import APPROVED, EXPIRED, SUPERSEDED, Approval, PausedTurn, PendingCall

DENIED_TEXT = "The user denied this tool call, so it was not run."
EXPIRED_TEXT = "The user did not answer the approval request in time, so the call was not run."
SUPERSEDED_TEXT = "The user did not approve this call and sent a new message instead, so it was not run."
CHANGED_TEXT = "The call differs from the one the user approved, so it was not run."


def pending_calls(result: RunResult | RunResultStreaming) -> list[PendingCall]:
    """The calls a run stopped at, in the order the model made them."""
    return [
        PendingCall(tool_call_id=_call_id(item), tool=item.tool_name or "tool", arguments=_arguments(item))
        for item in result.interruptions
    ]


def denial_text(approval: Approval | None) -> str:
    """What the model reads for a call that did not run (the user's reason, when given)."""
    if approval is None:
        return CHANGED_TEXT
    if approval.decision == EXPIRED:
        return EXPIRED_TEXT
    if approval.decision == SUPERSEDED:
        return SUPERSEDED_TEXT
    if approval.reason and approval.reason.strip():
        return f"{DENIED_TEXT} Their reason: {' '.join(approval.reason.split())[:500]}"
    return DENIED_TEXT


async def restore(agent: Agent[Any], paused: PausedTurn) -> RunState[Any, Agent[Any]]:
    """The paused run on `agent` (built around a fresh tool server), every decision applied."""
    state = await RunState.from_json(agent, paused.state)
    by_call = {approval.tool_call_id: approval for approval in paused.approvals}
    for item in state.get_interruptions():
        approval = by_call.get(_call_id(item))
        if approval is not None and approval.decision == APPROVED and _arguments(item) == approval.arguments:
            state.approve(item)
        else:
            shown = approval if approval is None or approval.decision != APPROVED else None
            state.reject(item, rejection_message=denial_text(shown))
    return state


def denied_call_ids(paused: PausedTurn) -> set[str]:
    """The calls of `paused` that will not run (the stream reports them as `tool-output-denied`)."""
    return {approval.tool_call_id for approval in paused.approvals if approval.decision != APPROVED}


def _call_id(item: ToolApprovalItem) -> str:
    raw = item.raw_item
    value = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
    return str(value or "")


def _arguments(item: ToolApprovalItem) -> str:
    raw = item.raw_item
    value = raw.get("arguments") if isinstance(raw, dict) else getattr(raw, "arguments", None)
    return value if isinstance(value, str) else ""
