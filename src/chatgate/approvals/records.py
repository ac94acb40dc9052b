"""What the approval store hands out: paused calls, approvals and their decisions, answers.

An approval's `decision`: None (waiting), `approved` (not run yet), `ran` (approved and sent to the
tool server: never sent again; `output` is what it returned, None if the attempt ended first),
`denied`, `expired` (not answered in time: counts as denied) or `superseded` (the user sent a new
message instead).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from chatgate.conversations.ui_messages import AnsweredCall

APPROVED, RAN, DENIED, EXPIRED, SUPERSEDED = "approved", "ran", "denied", "expired", "superseded"


@dataclass(frozen=True)
class PendingCall:
    """A tool call the paused run waits on: its call id, tool name and arguments (JSON text)."""

    tool_call_id: str
    tool: str
    arguments: str


@dataclass(frozen=True)
class Approval:
    """One stored approval; `decision` is None while it waits for the user."""

    id: str
    tool_call_id: str
    tool: str
    arguments: str
    created_at: datetime.datetime
    expires_at: datetime.datetime
    decision: str | None = None
    reason: str | None = None
    output: str | None = None

    @property
    def runs(self) -> bool:
        """Whether the call runs on resume (approved, and not sent to the tool server before)."""
        return self.decision == APPROVED

    @property
    def allowed(self) -> bool:
        """Whether the user approved the call (it ran, or runs on resume)."""
        return self.decision in (APPROVED, RAN)

    def agrees(self, approved: bool) -> bool:
        """Whether an answer `approved` repeats this recorded decision (a retry, not a change of mind);
        an expired approval stays denied whatever is answered."""
        return self.decision == EXPIRED or self.allowed == approved

    def as_answered(self) -> AnsweredCall:
        """How a restored thread shows the call (`conversations.ui_messages`)."""
        return AnsweredCall(self.tool_call_id, self.tool, self.id, self.allowed, self.reason)

    def as_public(self) -> dict[str, Any]:
        """`{id, tool, arguments}` (the arguments parsed), plus its call id and deadline."""
        return {
            "id": self.id,
            "tool": self.tool,
            "arguments": parsed_arguments(self.arguments),
            "tool_call_id": self.tool_call_id,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True)
class Answer:
    """The user's answer to one approval."""

    id: str
    approved: bool
    reason: str | None = None


@dataclass(frozen=True)
class PausedTurn:
    """A paused run whose approvals are all decided: the SDK state to resume (JSON text, checked
    when restored) and the decisions, in call order."""

    state: str
    message_id: str | None
    approvals: list[Approval]

    def tool_names(self) -> dict[str, str]:
        """Tool name by call id, for the calls this run stopped at."""
        return {approval.tool_call_id: approval.tool for approval in self.approvals}


def approval_from_row(row: Any) -> Approval:
    """An `Approval` from a `tool_approvals` row mapping."""
    return Approval(
        id=row["id"],
        tool_call_id=row["tool_call_id"],
        tool=row["tool"],
        arguments=row["arguments"],
        created_at=aware(row["created_at"]),
        expires_at=aware(row["expires_at"]),
        decision=row["decision"],
        reason=row["reason"],
        output=row["output"],
    )


def aware(moment: datetime.datetime) -> datetime.datetime:
    # SQLite hands timestamps back without their zone; they were stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


def parsed_arguments(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments else {}
    except json.JSONDecodeError:
        return {"_raw": arguments}
