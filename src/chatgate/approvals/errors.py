"""The approvals' HTTP errors (rendered like every `chatgate.errors.ChatgateError`)."""

from __future__ import annotations

from chatgate.errors import ConflictError


class ApprovalAlreadyAnsweredError(ConflictError):
    """An answer for an approval that was already answered (a replay): nothing was changed."""

    code = "approval_already_answered"
    default_message = "This approval was already answered; nothing was done again."
