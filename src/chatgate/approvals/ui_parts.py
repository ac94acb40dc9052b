"""Approvals still waiting, shown in a restored thread the way `useChat` showed them while streaming.

A paused run's calls are not in the stored history (the Agents SDK writes a call with its output, after
the resume), so a thread read back from storage would lose them, and a page reloaded while a call waits
could neither show it nor answer it. Each waiting approval becomes a tool part in state
`approval-requested` in the answer the paused run continues in:

    {"type": "dynamic-tool", "toolName", "toolCallId", "state": "approval-requested",
     "input": <the arguments that will run>, "approval": {"id"}}

which is exactly what `useChat` holds after the `tool-approval-request` chunk, so
`addToolApprovalResponse` and its continuation work on a restored thread as on a live one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatgate.approvals.records import Approval
from chatgate.conversations.message_index import ASSISTANT, new_message_id

REQUESTED = "approval-requested"


def approval_part(approval: Approval) -> dict[str, Any]:
    """The tool part of one waiting approval, its input the stored arguments (what would run)."""
    return {
        "type": "dynamic-tool",
        "toolName": approval.tool,
        "toolCallId": approval.tool_call_id,
        "state": REQUESTED,
        "input": approval.as_public()["arguments"],
        "approval": {"id": approval.id},
    }


def with_pending_approvals(
    messages: list[dict[str, Any]], pending: Sequence[Approval], message_id: str | None
) -> list[dict[str, Any]]:
    """`messages` (UIMessages, oldest first) with a part per `pending` approval (oldest first) at the
    end of answer `message_id` (the paused run's).

    When that answer is not in `messages` (it showed nothing before the calls: no text), it is added
    at the end, holding a `step-start` and the parts; without a `message_id` the last message takes
    them when it is an answer. `messages` itself is not changed.
    """
    if not pending:
        return messages
    parts = [approval_part(approval) for approval in pending]
    shown = list(messages)
    for index, message in enumerate(shown):
        if message["role"] == ASSISTANT and message["id"] == message_id:
            shown[index] = {**message, "parts": [*message["parts"], *parts]}
            return shown
    if message_id is None and shown and shown[-1]["role"] == ASSISTANT:
        shown[-1] = {**shown[-1], "parts": [*shown[-1]["parts"], *parts]}
        return shown
    metadata = {"created_at": pending[0].created_at.isoformat()}
    parts = [{"type": "step-start"}, *parts]
    return [
        *shown,
        {"id": message_id or new_message_id(), "role": ASSISTANT, "metadata": metadata, "parts": parts},
    ]
