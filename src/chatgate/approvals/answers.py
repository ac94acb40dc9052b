"""The user's answers to approvals, as they arrive: a JSON body's `approvals`, or `useChat`'s
continuation, and the denials a new message implies.

`useChat` (AI SDK 6 and 7) answers by sending the whole thread again with `trigger:
"submit-message"` and `messageId` set to the assistant message that asked; in that message each
answered tool part is in state `approval-responded` with `approval: {id, approved, reason?}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chatgate.approvals.records import Answer, Approval
from chatgate.approvals.resume import denial_text

RESPONDED = "approval-responded"
MAX_REASON_CHARS = 2000


def approval_answers(
    approvals: Sequence[Any] | None,
    messages: Sequence[Any] | None,
    trigger: str | None,
    message_id: str | None,
) -> list[Answer] | None:
    """The answers a chat request carries (None: it is an ordinary message).

    `approvals`: a JSON body's `[{id, approved, reason?}]`; else a `useChat` body's `messages`,
    `trigger` and `messageId` (a `submit-message` continuing the assistant message that asked).
    """
    if approvals is not None:
        return [Answer(id=item.id, approved=item.approved, reason=item.reason) for item in approvals]
    if messages is not None and trigger in (None, "submit-message"):
        return ui_answers(messages, message_id)
    return None


def ui_answers(messages: Sequence[Any], message_id: str | None) -> list[Answer] | None:
    """The answers in a `useChat` body, or None when it is not an approval continuation.

    `messages` are the body's UI messages (`id`, `role`, `parts`). The answering message is the
    assistant message `message_id` names, else the last message when it is the assistant's.
    """
    target = None
    if message_id is not None:
        target = next((m for m in messages if m.id == message_id and m.role == "assistant"), None)
    elif messages and messages[-1].role == "assistant":
        target = messages[-1]
    if target is None:
        return None
    answers = [_answer(part["approval"]) for part in target.parts if _responded(part)]
    return answers or None


def _responded(part: Mapping[str, Any]) -> bool:
    approval = part.get("approval")
    return (
        part.get("state") == RESPONDED
        and isinstance(approval, Mapping)
        and isinstance(approval.get("id"), str)
        and isinstance(approval.get("approved"), bool)
    )


def _answer(approval: Mapping[str, Any]) -> Answer:
    reason = approval.get("reason")
    return Answer(
        id=approval["id"],
        approved=approval["approved"],
        reason=reason[:MAX_REASON_CHARS] if isinstance(reason, str) else None,
    )


def denial_outputs(approvals: Sequence[Approval]) -> list[dict[str, Any]]:
    """History items telling the model that these calls did not run (a new message superseded them)."""
    return [
        {"type": "function_call_output", "call_id": approval.tool_call_id, "output": denial_text(approval)}
        for approval in approvals
    ]
