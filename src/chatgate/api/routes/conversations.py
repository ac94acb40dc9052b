"""`/api/agents/conversations`: the caller's conversations, their messages and runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from chatgate.api.deps import CurrentPrincipal, ServicesDep
from chatgate.api.schemas import (
    CONVERSATION_ID_PATTERN,
    ApprovalOut,
    ConversationDetail,
    ConversationOut,
    ConversationsPage,
    ErrorResponse,
    RunOut,
    UIMessagesOut,
)
from chatgate.approvals.ui_parts import with_pending_approvals
from chatgate.conversations.history import ConversationSession, transcript
from chatgate.conversations.message_index import MessageIndex
from chatgate.conversations.ui_messages import ui_messages
from chatgate.storage.models import utc_now

router = APIRouter(prefix="/api/agents/conversations", tags=["conversations"])

ConversationId = Annotated[str, Path(pattern=CONVERSATION_ID_PATTERN)]
_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse} for status in (401, 404, 409, 422, 503)
}


@router.get("", response_model=ConversationsPage, responses=_ERRORS)
async def list_conversations(
    principal: CurrentPrincipal,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ConversationsPage:
    """List the caller's conversations, most recently active first, with a title from the first message."""
    items, total = await services.chat.conversations.page(principal.user_id, limit=limit, offset=offset)
    return ConversationsPage(
        items=[ConversationOut(**item) for item in items],
        total=total,
        limit=limit,
        offset=offset,
        has_more=offset + len(items) < total,
    )


@router.get("/{conversation_id}", response_model=ConversationDetail, responses=_ERRORS)
async def get_conversation(
    conversation_id: ConversationId, principal: CurrentPrincipal, services: ServicesDep
) -> ConversationDetail:
    """Show one conversation: its messages and tool calls in order, and a record of each run."""
    conversation, runs = await services.chat.conversations.get(principal.user_id, conversation_id)
    # Ownership was checked above; only then are the messages read.
    session = ConversationSession(
        conversation_id, services.chat.engine, history_limit=None, owner=principal.user_id
    )
    items = await session.get_items()
    approvals = services.chat.approvals
    pending = await approvals.pending(principal.user_id, conversation_id) if approvals else []
    return ConversationDetail(
        **conversation,
        messages=transcript(items),
        runs=[RunOut(**run) for run in runs],
        pending_approvals=[ApprovalOut(**approval.as_public()) for approval in pending],
    )


@router.get("/{conversation_id}/messages", response_model=UIMessagesOut, responses=_ERRORS)
async def get_messages(
    conversation_id: ConversationId, principal: CurrentPrincipal, services: ServicesDep
) -> UIMessagesOut:
    """The conversation as the AI SDK's `UIMessage` list, to restore a `useChat` thread
    (`useChat({id, messages})`): ids as the client saw them while streaming, text, tool and file parts,
    calls waiting for the user's approval as tool parts in state `approval-requested`, and answered
    ones with their `approval` (`output-denied` when not approved)."""
    owner = principal.user_id
    thread = await MessageIndex(services.chat.engine).thread(owner, conversation_id)
    if services.chat.approvals is None:
        return UIMessagesOut(messages=ui_messages(thread))
    every, paused_in = await services.chat.approvals.of_thread(owner, conversation_id)
    now = utc_now()
    # Answered calls carry their approval (not approved: `output-denied`); calls waiting for the
    # user are added as tool parts to answer (they are not in the history yet).
    messages = ui_messages(thread, [approval.as_answered() for approval in every if approval.decision])
    pending = [approval for approval in every if approval.decision is None and approval.expires_at > now]
    return UIMessagesOut(messages=with_pending_approvals(messages, pending, paused_in))


@router.delete("/{conversation_id}", status_code=204, response_class=Response, responses=_ERRORS)
async def delete_conversation(
    conversation_id: ConversationId, principal: CurrentPrincipal, services: ServicesDep
) -> Response:
    """Delete one conversation with its messages and runs (409 while a message is being answered)."""
    await services.chat.conversations.delete(principal.user_id, conversation_id)
    return Response(status_code=204)
