"""Pausing a run at its approvals and resuming it from the stored state with the user's decisions.

The state is the Agents SDK's own `RunState` (`to_json` / `from_json`), kept server-side only (the
SDK does not authenticate a snapshot, so a client never supplies one). Restoring checks it against
the approvals stored beside it, which are what the user was shown: the calls it waits on must be
exactly those (call id, tool, arguments) and it must carry no decision of its own (the pausing run
never decides one). A state that fails (edited, or unreadable) is `ApprovalStateInvalidError` and
nothing runs. What runs on approval is the call stored in that state: the model is not asked again
between the approval and the execution, so it cannot change it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from agents import Agent, RunState
from agents.items import ToolApprovalItem
from agents.result import RunResult, RunResultStreaming

from chatgate.approvals.records import EXPIRED, RAN, SUPERSEDED, Approval, PausedTurn, PendingCall
from chatgate.errors import ApprovalStateInvalidError

logger = logging.getLogger(__name__)

DENIED_TEXT = "The user denied this tool call, so it was not run."
EXPIRED_TEXT = "The user did not answer the approval request in time, so the call was not run."
SUPERSEDED_TEXT = "The user did not approve this call and sent a new message instead, so it was not run."
NOT_RUN_TEXT = "The user approved this call, but the run stopped before it ran; it was not run."
UNKNOWN_TEXT = (
    "This approved call was started in an earlier attempt that failed before it returned; its outcome "
    "is unknown, and it was not run again."
)


def pending_calls(result: RunResult | RunResultStreaming) -> list[PendingCall]:
    """The calls a run stopped at, in the order the model made them."""
    return [
        PendingCall(tool_call_id=_call_id(item), tool=_tool(item), arguments=_arguments(item))
        for item in result.interruptions
    ]


def denial_text(approval: Approval) -> str:
    """What the model reads for a call of `approval` that is not run now: its earlier output (a call
    that ran), or why it did not run (the user's reason, when given)."""
    if approval.decision == RAN:
        return approval.output if approval.output is not None else UNKNOWN_TEXT
    if approval.allowed:
        return NOT_RUN_TEXT
    if approval.decision == EXPIRED:
        return EXPIRED_TEXT
    if approval.decision == SUPERSEDED:
        return SUPERSEDED_TEXT
    if approval.reason and approval.reason.strip():
        return f"{DENIED_TEXT} Their reason: {' '.join(approval.reason.split())[:500]}"
    return DENIED_TEXT


async def restore(agent: Agent[Any], paused: PausedTurn) -> RunState[Any, Agent[Any]]:
    """The paused run on `agent` (built around a fresh tool server), every decision applied: an
    approved call runs; one that ran in an earlier attempt gets its stored output (never sent
    again); the others are reported as not run.

    Raises:
        ApprovalStateInvalidError: the stored state does not match its approvals, or cannot be read.
    """
    try:
        data = json.loads(paused.state)
        if not isinstance(data, dict) or _decisions_in(data):
            raise ValueError("a paused state carries decisions of its own")
        state = await RunState.from_json(agent, data)
        waiting = state.get_interruptions()
    except Exception as exc:
        logger.error("paused run state rejected: %s", type(exc).__name__)
        raise ApprovalStateInvalidError() from None
    shown = {approval.tool_call_id: approval for approval in paused.approvals}
    calls = {(_call_id(item), _tool(item), _arguments(item)) for item in waiting}
    if len(waiting) != len(shown) or calls != {(a.tool_call_id, a.tool, a.arguments) for a in shown.values()}:
        logger.error("paused run state rejected: its calls differ from the approvals shown")
        raise ApprovalStateInvalidError()
    for item in waiting:
        approval = shown[_call_id(item)]
        if approval.runs:
            state.approve(item)
        else:
            state.reject(item, rejection_message=denial_text(approval))
    return state


def denied_call_ids(paused: PausedTurn) -> set[str]:
    """The calls of `paused` the user did not approve (the stream reports `tool-output-denied`)."""
    return {approval.tool_call_id for approval in paused.approvals if not approval.allowed}


def replayed_call_ids(paused: PausedTurn) -> set[str]:
    """The approved calls of `paused` that ran in an earlier attempt and returned: their stored
    output is given again (the stream reports it as the call's output)."""
    return {
        approval.tool_call_id
        for approval in paused.approvals
        if approval.decision == RAN and approval.output is not None
    }


def _decisions_in(data: dict[str, Any]) -> bool:
    # The SDK serialises the approvals it holds under context.approvals (and two typed variants); a
    # pausing run has none: any there were written into the stored row afterwards.
    context = data.get("context")
    if not isinstance(context, dict):
        return True
    return any(context.get(key) for key in ("approvals", "function_tool_approvals", "hosted_mcp_approvals"))


def _call_id(item: ToolApprovalItem) -> str:
    raw = item.raw_item
    value = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
    return str(value or "")


def _tool(item: ToolApprovalItem) -> str:
    return item.tool_name or "tool"


def _arguments(item: ToolApprovalItem) -> str:
    raw = item.raw_item
    value = raw.get("arguments") if isinstance(raw, dict) else getattr(raw, "arguments", None)
    return value if isinstance(value, str) else ""
