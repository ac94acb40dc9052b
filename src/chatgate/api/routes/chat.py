"""`POST /api/agents/chat`: one message in, the agent's answer out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from agents.stream_events import StreamEvent
from fastapi import APIRouter, Request

from chatgate.api.deps import ChatIntakeDep, ChatServiceDep, CurrentPrincipal, RequestId, ServicesDep
from chatgate.api.disconnect import cancel_on_disconnect
from chatgate.api.schemas import ChatRequest, ChatResponse, ErrorResponse, ToolUseOut
from chatgate.attachments import parse_attachments, saved_user_item
from chatgate.conversations.message_index import TurnIds, new_message_id
from chatgate.errors import InvalidRequestError
from chatgate.intake import AdmittedChat
from chatgate.run_report import ChatResult
from chatgate.streaming.response import Emit, OpenPublisher, UiMessageStreamResponse
from chatgate.streaming.run_buffer import run_key
from chatgate.streaming.ui_message_stream import UiMessageStreamEncoder
from chatgate.turn import Turn

router = APIRouter(prefix="/api/agents", tags=["agents"])

_STREAM_DOC: dict[str, object] = {
    "description": "The answer as JSON, or with `Accept: text/event-stream` (or `stream: true`) as the "
    "AI SDK UI message stream (Server-Sent Events).",
    "content": {"text/event-stream": {}},
}
_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 404, 409, 413, 422, 429, 502, 503, 504, 507)
}


@router.post("/chat", response_model=ChatResponse, responses={**_ERRORS, 200: _STREAM_DOC})
async def chat(
    body: ChatRequest,
    request: Request,
    principal: CurrentPrincipal,
    service: ChatServiceDep,
    request_id: RequestId,
    intake: ChatIntakeDep,
    services: ServicesDep,
) -> ChatResponse | UiMessageStreamResponse:
    """Send a message to the agent, which works on the caller's own data through a fresh tool server."""
    message = body.input_text
    limit = service.settings.max_message_chars
    if len(message) > limit:
        raise InvalidRequestError(f"message: must be at most {limit} characters (MAX_MESSAGE_CHARS).")
    # Attachments are decoded and checked before anything is claimed or stored (413, 422).
    attachments = parse_attachments(body.input_files, service.settings.files_limits)
    streamed = _wants_stream(body, request)
    # Draining and per-user limits refuse before anything is claimed; the admission is held until the
    # answer ends (a stream's last byte) and records how the chat ended.
    admitted = await intake.admit(principal, "stream" if streamed else "json")
    # The user's message keeps the client's id; the answer's id is announced first thing (stream) or
    # returned (`message_id`), and both are stored with the thread.
    ids = TurnIds(user=body.input_message_id or new_message_id())
    turn = Turn(principal, message, request_id=request_id, conversation_id=body.conversation, ids=ids)
    # Regenerate and edit cut the stored thread when the conversation is claimed (README).
    turn.replaces = body.replacement
    try:
        if attachments:  # saved under uploads/; the model is told where (README: Attachments)
            turn.asked = await saved_user_item(service.settings, principal.user_id, message, attachments)
        # Claimed before anything is sent, so a busy or foreign conversation is a plain 409 / 404.
        await service.open_turn(turn)
    except BaseException as exc:
        await admitted.refused(exc)
        raise
    run_turn = partial(service.run_turn, turn)
    if streamed:
        abandon = partial(service.abandon_turn, turn)
        return _streamed(
            request,
            admitted,
            run_turn,
            abandon,
            turn,
            service.settings.stream_keepalive_seconds,
            # Published for `GET /chat/{id}/stream` (resume), by this and any other instance.
            partial(services.run_buffer.start, run_key(principal.user_id, turn.claimed_conversation)),
        )
    try:
        result = await admitted.run(partial(cancel_on_disconnect, request, run_turn), turn.timings)
    finally:
        request.state.timings_ms = turn.timings.as_dict()
    return ChatResponse(
        conversation_id=result.conversation_id,
        message_id=result.message_id,
        response=result.response,
        agent_used=result.agent_used,
        tools_used=[ToolUseOut(name=use.name, ok=use.ok) for use in result.tools_used],
        usage=result.usage,
        timings_ms=result.timings.as_dict(),
    )


def _wants_stream(body: ChatRequest, request: Request) -> bool:
    """An explicit `stream` wins; `useChat` bodies always stream; otherwise the Accept header decides."""
    if body.stream is not None:
        return body.stream
    return body.is_ui_message_request or "text/event-stream" in request.headers.get("accept", "")


def _streamed(
    request: Request,
    admitted: AdmittedChat,
    run_turn: Callable[..., Awaitable[ChatResult]],
    abandon: Callable[[], Awaitable[None]],
    turn: Turn,
    keepalive_seconds: float,
    open_publisher: OpenPublisher,
) -> UiMessageStreamResponse:
    async def run(encoder: UiMessageStreamEncoder, emit: Emit) -> None:
        async def forward(event: StreamEvent) -> None:
            for chunk in encoder.on_event(event):
                await emit(chunk)

        try:
            await admitted.run(partial(run_turn, on_event=forward), turn.timings)
        finally:
            request.state.timings_ms = turn.timings.as_dict()

    async def not_run() -> None:
        try:
            await abandon()
        finally:
            await admitted.abandoned()

    response = UiMessageStreamResponse(
        run,
        keepalive_seconds=keepalive_seconds,
        message_id=turn.ids.assistant,
        on_not_run=not_run,
        open_publisher=open_publisher,
    )
    response.raw_headers.append((b"x-conversation-id", turn.claimed_conversation.encode()))
    return response
