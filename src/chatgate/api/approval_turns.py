"""Answering a paused run: the conversation claimed, the answers recorded, the run handed back to
resume (or, while some approvals still wait, the claim released with nothing run)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

import anyio

from chatgate.approvals.records import Answer, Approval, PausedTurn
from chatgate.chat import ChatService
from chatgate.conversations.models import INTERRUPTED
from chatgate.errors import ChatgateError
from chatgate.storage.errors import RowNotFoundError, StorageError
from chatgate.turn import AWAITING_APPROVAL, Turn


async def answer_approvals(
    service: ChatService, turn: Turn, answers: Sequence[Answer], *, complete: bool = False
) -> PausedTurn | list[Approval]:
    """Record `answers` for the turn's conversation (`turn.conversation_id`, required); with
    `complete` (a streamed answer), only if they leave no approval of the step waiting.

    Returns:
        The paused run with every decision (the conversation stays claimed by the turn: set it as
        `turn.resume` and `run_turn`), or the approvals still waiting (the claim is released).

    Raises:
        RowNotFoundError: no such conversation or approval of the caller (another user's: the same);
            nothing is created or changed.
        ApprovalAlreadyAnsweredError: a replayed answer; nothing is changed.
        ApprovalsIncompleteError: `complete`, and some approval would still wait; nothing is changed.
        ModelNotConfiguredError, ConversationBusyError: as for a message.
    """
    owner, conversation_id = turn.principal.user_id, turn.conversation_id
    if service.approvals is None or conversation_id is None:
        raise RowNotFoundError("approval")
    # Checked before claiming: a claim would create a conversation that does not exist.
    await service.conversations.get(owner, conversation_id)
    await service.open_turn(turn)
    try:
        answered = await service.approvals.answer(owner, conversation_id, answers, complete=complete)
    except BaseException as exc:
        await _release(service, turn, _outcome_of(exc))
        raise
    if isinstance(answered, list):
        await _release(service, turn, AWAITING_APPROVAL)
    return answered


def _outcome_of(exc: BaseException) -> str:
    if isinstance(exc, ChatgateError):
        return exc.code
    return "not_found" if isinstance(exc, RowNotFoundError) else INTERRUPTED


async def _release(service: ChatService, turn: Turn, outcome: str) -> None:
    run = turn.run_record(outcome)
    # The claim goes stale on its own if this fails; the request's own outcome matters more.
    with anyio.CancelScope(shield=True), suppress(StorageError):
        await service.conversations.finish(
            turn.principal.user_id, turn.claimed_conversation, turn.request_id, run
        )
