"""`GET /api/agents/chat/{id}/stream`: resume the answer being streamed in a conversation.

The AI SDK's `useChat({ resume: true })` sends this on page load, with `{id}` the chat id it also
sends as the body's `id` (chatgate's conversation id). 204 when nothing is being streamed in that
conversation of the caller (another user's conversation is simply not found: 204 too); otherwise
the answer's chunks so far, then the rest as it is produced, ending as the run ends.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from chatgate.api.deps import CurrentPrincipal, ServicesDep
from chatgate.api.schemas import CONVERSATION_ID_PATTERN, ErrorResponse
from chatgate.streaming.resumed_response import ResumedStreamResponse
from chatgate.streaming.run_buffer import run_key

router = APIRouter(prefix="/api/agents", tags=["agents"])

_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The answer in progress as the AI SDK UI message stream (replayed, then live).",
        "content": {"text/event-stream": {}},
    },
    204: {"description": "Nothing is being answered in this conversation."},
    **{status: {"model": ErrorResponse} for status in (401, 422)},
}


@router.get("/chat/{conversation_id}/stream", response_class=Response, responses=_RESPONSES)
async def resume_stream(
    conversation_id: Annotated[str, Path(pattern=CONVERSATION_ID_PATTERN)],
    principal: CurrentPrincipal,
    services: ServicesDep,
) -> Response:
    """Replay and follow the answer being streamed in the caller's conversation, if there is one."""
    chunks = await services.run_buffer.follow(run_key(principal.user_id, conversation_id))
    if chunks is None:
        return Response(status_code=204)
    return ResumedStreamResponse(chunks, keepalive_seconds=services.settings.stream_keepalive_seconds)
