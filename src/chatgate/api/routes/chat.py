"""`POST /api/agents/chat`: one message in, the agent's answer out."""

from __future__ import annotations

from fastapi import APIRouter, Request

from chatgate.api.deps import ChatServiceDep, CurrentPrincipal, RequestId
from chatgate.api.disconnect import cancel_on_disconnect
from chatgate.api.schemas import ChatRequest, ChatResponse, ErrorResponse, ToolUseOut
from chatgate.chat import Timings
from chatgate.errors import InvalidRequestError

router = APIRouter(prefix="/api/agents", tags=["agents"])

_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 409, 413, 422, 502, 503, 504)
}


@router.post("/chat", response_model=ChatResponse, responses=_ERRORS)
async def chat(
    body: ChatRequest,
    request: Request,
    principal: CurrentPrincipal,
    service: ChatServiceDep,
    request_id: RequestId,
) -> ChatResponse:
    """Send a message to the agent, which works on the caller's own data through a fresh tool server."""
    limit = service.settings.max_message_chars
    if len(body.message) > limit:
        raise InvalidRequestError(f"message: must be at most {limit} characters (MAX_MESSAGE_CHARS).")
    timings = Timings()
    try:
        result = await cancel_on_disconnect(
            request, lambda: service.chat(principal, body.message, request_id=request_id, timings=timings)
        )
    finally:
        request.state.timings_ms = timings.as_dict()
    return ChatResponse(
        response=result.response,
        agent_used=result.agent_used,
        tools_used=[ToolUseOut(name=use.name, ok=use.ok) for use in result.tools_used],
        usage=result.usage,
        timings_ms=result.timings.as_dict(),
    )
