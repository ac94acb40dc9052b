"""Answering a paused run: the conversation claimed, the answers recorded, the run handed back to
resume (or, while some approvals still wait, the claim released with nothing run)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

import anyio

from chatgate.approvals.store import Answer, Approval, PausedTurn
from chatgate.chat import ChatService
from chatgate.conversations.models import ConversationRun
from chatgate.errors import ChatgateError
from chatgate.principal import Principal
from chatgate.run_report import AWAITING_APPROVAL
from chatgate.storage.errors import NotFoundError, StorageError


async def answer_approvals(
    service: ChatService,
    principal: Principal,
    conversation_id: str,
    answers: Sequence[Answer],
    *,
    request_id: str,
) -> PausedTurn | list[Approval]:
    """Record `answers` for the caller's conversation.

    Returns:
        The paused run with every decision (the conversation stays claimed by `request_id`: resume it
        with `run_turn(resume=…)`), or the approvals still waiting (the claim is released).

    Raises:
        NotFoundError: no such conversation or approval of the caller (another user's: the same);
            nothing is created or changed.
        ApprovalAlreadyAnsweredError: a replayed answer; nothing is changed.
        ModelNotConfiguredError, ConversationBusyError: as for a message.
    """
    owner = principal.user_id
    if service.approvals is None:
        raise NotFoundError("approval")
    # Checked before claiming: a claim would create a conversation that does not exist.
    await service.conversations.get(owner, conversation_id)
    await service.open_turn(principal, "", request_id=request_id, conversation_id=conversation_id)
    try:
        answered = await service.approvals.answer(owner, conversation_id, answers)
    except BaseException as exc:
        await _release(service, owner, conversation_id, request_id, _outcome_of(exc))
        raise
    if isinstance(answered, list):
        await _release(service, owner, conversation_id, request_id, AWAITING_APPROVAL)
    return answered


def _outcome_of(exc: BaseException) -> str:
    if isinstance(exc, ChatgateError):
        return exc.code
    return "not_found" if isinstance(exc, NotFoundError) else "interrupted"


async def _release(
    service: ChatService, owner: str, conversation_id: str, request_id: str, outcome: str
) -> None:
    run = ConversationRun(
        conversation_id=conversation_id, owner=owner, request_id=request_id, outcome=outcome
    )
    # The claim goes stale on its own if this fails; the request's own outcome matters more.
    with anyio.CancelScope(shield=True), suppress(StorageError):
        await service.conversations.finish(owner, conversation_id, request_id, run)
