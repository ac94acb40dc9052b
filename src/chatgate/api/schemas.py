"""Request and response bodies of the HTTP API (public interface: field names are stable)."""

from __future__ import annotations

import datetime
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from chatgate.conversations.replacement import EDIT, REGENERATE, Replacement
from chatgate.surrogates import without_lone_surrogates

CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
# A message id the client chose (the AI SDK's are 16 letters and digits; UUIDs, nanoids fit too):
# printable ASCII without spaces, stored as it came.
MESSAGE_ID_PATTERN = re.compile(r"^[!-~]{1,128}$")
# Deeper than any message, tool input or output a client sends back. The limit is checked before
# anything walks the body recursively: deeper, the walk would end in a RecursionError (a 500).
MAX_JSON_DEPTH = 100


class RequestBody(BaseModel):
    """A JSON request body: lone UTF-16 surrogates in any of its strings become U+FFFD on the way in
    (why: `chatgate.surrogates`), so no later step meets text it cannot encode. Nesting deeper than
    `MAX_JSON_DEPTH` is refused (422)."""

    @model_validator(mode="before")
    @classmethod
    def _bounded_and_cleaned(cls, data: Any) -> Any:
        if _nested_deeper_than(data, MAX_JSON_DEPTH):
            raise ValueError(f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
        return without_lone_surrogates(data)


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects in `value` nest more than `limit` levels (iterative: any depth)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class UIMessageIn(RequestBody):
    """A message as the AI SDK's `useChat` sends it; only text parts matter here."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    role: str
    parts: list[dict[str, Any]] = Field(default_factory=list)

    def text(self) -> str:
        return "".join(str(part.get("text", "")) for part in self.parts if part.get("type") == "text")


class ApprovalAnswerIn(RequestBody):
    """The user's answer to one tool call waiting for approval."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, description="The approval's id.")
    approved: StrictBool  # it decides whether a tool runs: `true` or `false`, never "yes" or 1
    reason: str | None = Field(default=None, max_length=2000, description="Why (told to the model).")


class ChatRequest(RequestBody):
    """Either `{"message", "conversation_id"?, "stream"?}`, `{"conversation_id", "approvals"}` (answers
    to a paused run), or the body `useChat` sends.

    `useChat` sends `{"id", "messages", "trigger", "messageId"}`: `id` is the conversation id and the
    last user message is the input (earlier messages come from the stored conversation, not the client).
    """

    model_config = ConfigDict(extra="forbid")

    message: str | None = Field(default=None, description="The user's message to the agent.")
    conversation_id: str | None = Field(
        default=None, pattern=CONVERSATION_ID_PATTERN, description="Continue this conversation."
    )
    stream: bool | None = Field(default=None, description="Stream the answer as Server-Sent Events.")
    # The `useChat` body.
    id: str | None = Field(default=None, pattern=CONVERSATION_ID_PATTERN)
    messages: list[UIMessageIn] | None = None
    trigger: Literal["submit-message", "regenerate-message"] | None = None  # the AI SDK's two
    messageId: str | None = None  # the AI SDK's field name
    approvals: list[ApprovalAnswerIn] | None = Field(
        default=None, min_length=1, max_length=128, description="Answers to the calls awaiting approval."
    )
    # JSON clients' regenerate and edit (`useChat` says the same with `trigger` and `messageId`).
    regenerate: str | None = Field(
        default=None, description="Answer again: drop this answer (and all after it), re-answer its question."
    )
    edit: str | None = Field(
        default=None, description="Replace this user message (and all after it) with `message`."
    )

    @model_validator(mode="after")
    def _one_input(self) -> ChatRequest:
        if self.approvals is not None:
            if self.message is not None or self.messages is not None:
                raise ValueError("send either 'message', 'messages' or 'approvals'")
            if not self.conversation:
                raise ValueError("'approvals' answer a conversation: send its 'conversation_id'")
            if self.regenerate is not None or self.edit is not None:
                raise ValueError("send 'approvals' without 'regenerate' or 'edit'")
            return self
        if self.regenerate is not None and self.message is None and self.messages is None:
            self.message = ""  # the stored question is answered again
        if (self.message is None) == (self.messages is None):
            raise ValueError("send either 'message' or 'messages'")
        if self.conversation_id and self.id and self.conversation_id != self.id:
            raise ValueError("'conversation_id' and 'id' disagree")
        if self.regenerate is not None and self.edit is not None:
            raise ValueError("send either 'regenerate' or 'edit'")
        replacement = self.replacement
        if replacement is not None and self.conversation is None:
            raise ValueError("regenerate and edit need the conversation's id")
        asks = replacement is None or replacement.kind == EDIT
        if asks and not self.input_text.strip() and not self.input_files:
            raise ValueError("the message must not be blank")
        for message_id in (self.input_message_id, replacement.message_id if replacement else None):
            if message_id is not None and not MESSAGE_ID_PATTERN.fullmatch(message_id):
                raise ValueError("message ids must be 1 to 128 printable ASCII characters without spaces")
        return self

    @property
    def replacement(self) -> Replacement | None:
        """Which stored message this request replaces, if any (None: an ordinary new message).

        `regenerate-message` names the answer to redo (or, without `messageId`, the question it
        answers: the last user message sent); `submit-message` with a `messageId` names the user
        message being edited (or an answer carrying tool approvals: see `Replacement.kind`).
        """
        if self.regenerate is not None:
            return Replacement(REGENERATE, self.regenerate)
        if self.edit is not None:
            return Replacement(EDIT, self.edit)
        if self.trigger == "regenerate-message":
            target = self.messageId or self.input_message_id
            return Replacement(REGENERATE, target) if target else None
        if self.trigger == "submit-message" and self.messageId is not None:
            # A client naming the message it sends (new, so not stored yet) is sending, not editing.
            sends = self.messageId == self.input_message_id
            return Replacement(EDIT, self.messageId, approvals=self._carries_approvals(), or_new=sends)
        return None

    def _carries_approvals(self) -> bool:
        return any(
            part.get("state") == "approval-responded"
            for message in self.messages or []
            for part in message.parts
        )

    @property
    def input_text(self) -> str:
        if self.approvals is not None:
            return ""
        if self.message is not None:
            return self.message
        users = [message for message in self.messages or [] if message.role == "user"]
        return users[-1].text() if users else ""

    @property
    def input_files(self) -> list[dict[str, Any]]:
        """The file parts of the input message (`useChat` attachments), as sent."""
        users = [message for message in self.messages or [] if message.role == "user"]
        return [part for part in users[-1].parts if part.get("type") == "file"] if users else []

    @property
    def input_message_id(self) -> str | None:
        """The id the client gave the input message (`useChat` always sends one), stored with it."""
        users = [message for message in self.messages or [] if message.role == "user"]
        return users[-1].id if users else None

    @property
    def conversation(self) -> str | None:
        return self.conversation_id or self.id

    @property
    def is_ui_message_request(self) -> bool:
        """`useChat` bodies always expect the UI message stream."""
        return self.messages is not None


class ToolUseOut(BaseModel):
    name: str
    ok: bool


class ApprovalOut(BaseModel):
    """A tool call waiting for the user: approve or deny it by `id`; `arguments` are exactly what runs."""

    id: str
    tool: str
    arguments: Any
    tool_call_id: str
    expires_at: datetime.datetime


class ChatResponse(BaseModel):
    conversation_id: str
    message_id: str = Field(description="The answer's id in the conversation's thread.")
    status: str = Field(description="`completed`, or `awaiting_approval` while `approvals` wait.")
    response: str
    agent_used: str
    tools_used: list[ToolUseOut]
    approvals: list[ApprovalOut] = Field(default_factory=list)
    usage: dict[str, int]
    timings_ms: dict[str, float]


class ToolOut(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any]


class ToolsResponse(BaseModel):
    tools: list[ToolOut]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class ConversationOut(BaseModel):
    id: str
    title: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    running: bool


class ConversationsPage(BaseModel):
    items: list[ConversationOut]
    total: int
    limit: int
    offset: int
    has_more: bool


class RunOut(BaseModel):
    request_id: str
    started_at: datetime.datetime
    finished_at: datetime.datetime
    outcome: str
    timings_ms: dict[str, float]
    usage: dict[str, int]


class ConversationDetail(ConversationOut):
    messages: list[dict[str, Any]]
    runs: list[RunOut]
    pending_approvals: list[ApprovalOut] = Field(default_factory=list)


class UIMessagesOut(BaseModel):
    """A thread as the AI SDK's `UIMessage` list (`chatgate.conversations.ui_messages` has the shape)."""

    messages: list[dict[str, Any]]
