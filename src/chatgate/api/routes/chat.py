"""`POST /api/agents/chat`: one message in, the agent's answer out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from agents.stream_events import StreamEvent
from fastapi import APIRouter, Request

from chatgate.api.approval_turns import answer_approvals
from chatgate.api.deps import ChatIntakeDep, ChatServiceDep, CurrentPrincipal, RequestId, ServicesDep
from chatgate.api.disconnect import cancel_on_disconnect
from chatgate.api.schemas import ApprovalOut, ChatRequest, ChatResponse, ErrorResponse, ToolUseOut
from chatgate.approvals.answers import approval_answers
from chatgate.approvals.records import Approval
from chatgate.approvals.resume import denied_call_ids, replayed_call_ids
from chatgate.attachments import parse_attachments, saved_user_item
from chatgate.conversations.message_index import TurnIds, new_message_id
from chatgate.errors import InvalidRequestError
from chatgate.intake import AdmittedChat
from chatgate.run_report import ChatResult, usage_of
from chatgate.streaming.progress import ToolProgress
from chatgate.streaming.response import Emit, OpenPublisher, UiMessageStreamResponse
from chatgate.streaming.run_buffer import run_key
from chatgate.streaming.ui_message_stream import UiMessageStreamEncoder
from chatgate.turn import AWAITING_APPROVAL, Turn

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
    answers = approval_answers(body.approvals, body.messages, body.trigger, body.messageId)
    try:
        # Claimed before anything is sent, so a busy or foreign conversation is a plain 404 / 409.
        if answers is not None and body.conversation is not None:
            turn.replaces = None  # an answer carrying approvals continues its message, it edits nothing
            # A stream cannot say that some calls still wait (`useChat` sends once all are answered):
            # a streamed partial answer is refused, 409 `approvals_incomplete`, nothing recorded.
            answered = await answer_approvals(service, turn, answers, complete=streamed)
            if isinstance(answered, list):  # some calls still wait: nothing runs yet
                return await _still_waiting(answered, turn, admitted)
            turn.resume = answered
            # The answer continues in the message that asked (its id, as stored when the run paused).
            assistant = answered.message_id or body.messageId or turn.ids.assistant
            turn.ids = TurnIds(user=turn.ids.user, assistant=assistant)
        else:
            if attachments:  # saved under uploads/; the model is told where (README: Attachments)
                turn.asked = await saved_user_item(service.settings, principal.user_id, message, attachments)
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
        status=result.status,
        response=result.response,
        agent_used=result.agent_used,
        tools_used=[ToolUseOut(name=use.name, ok=use.ok) for use in result.tools_used],
        approvals=[ApprovalOut(**approval.as_public()) for approval in result.approvals],
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
        async def forward(event: StreamEvent | ToolProgress) -> None:
            for chunk in encoder.on_event(event):
                await emit(chunk)

        try:
            result = await admitted.run(partial(run_turn, on_event=forward), turn.timings)
        finally:
            request.state.timings_ms = turn.timings.as_dict()
        # The run paused: the step ends with what the user must answer (then `finish`).
        for chunk in encoder.approval_requests((item.id, item.tool_call_id) for item in result.approvals):
            await emit(chunk)

    async def not_run() -> None:
        try:
            await abandon()
        finally:
            await admitted.abandoned()

    encoder = UiMessageStreamEncoder(turn.ids.assistant)
    if turn.resume is not None:
        # The answer continues the message that asked: its decided calls' results come first.
        encoder.continuing(
            turn.resume.tool_names(), denied_call_ids(turn.resume), replayed_call_ids(turn.resume)
        )
    response = UiMessageStreamResponse(
        run,
        keepalive_seconds=keepalive_seconds,
        on_not_run=not_run,
        open_publisher=open_publisher,
        encoder=encoder,
    )
    response.raw_headers.append((b"x-conversation-id", turn.claimed_conversation.encode()))
    return response


async def _still_waiting(waiting: list[Approval], turn: Turn, admitted: AdmittedChat) -> ChatResponse:
    """Some calls of the paused run are not answered yet (a JSON answer): nothing runs; the answer
    says what waits."""

    async def nothing() -> None:
        return None

    await admitted.run(nothing, turn.timings)
    return ChatResponse(
        conversation_id=turn.claimed_conversation,
        message_id="",  # nothing was answered: no new message
        status=AWAITING_APPROVAL,
        response="",
        agent_used="",
        tools_used=[],
        approvals=[ApprovalOut(**approval.as_public()) for approval in waiting],
        usage=usage_of(None),
        timings_ms=turn.timings.as_dict(),
    )
