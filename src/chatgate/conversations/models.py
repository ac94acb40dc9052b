"""Tables of conversations, their runs and their messages' ids. The messages themselves live in the
Agents SDK's session tables (`agent_sessions`, `agent_messages`), keyed by the conversation id.

The schema is created by the migrations in `chatgate.storage.migrations`, not by `create_all`.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chatgate.storage.models import OWNER_MAX_CHARS, utc_now

CONVERSATION_ID_MAX_CHARS = 128
TITLE_MAX_CHARS = 80
MESSAGE_ID_MAX_CHARS = 128
SDK_SESSIONS_TABLE = "agent_sessions"
SDK_MESSAGES_TABLE = "agent_messages"


def _timestamp(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=True)
    return Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True), nullable=False)


def conversation_id_column(*, primary_key: bool = False) -> sa.Column[str]:
    """A row's conversation: a key into `conversations`, its rows deleted with the conversation."""
    return sa.Column(
        sa.String(CONVERSATION_ID_MAX_CHARS),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


# How a recorded run ended when it was cut off: stopped, cancelled, or its instance died.
INTERRUPTED = "interrupted"


class Conversation(SQLModel, table=True):
    """One conversation of one owner. `active_request_id` marks a run in progress (one at a time),
    `active_instance` the instance running it (`chatgate.conversations.instance_lease`)."""

    __tablename__ = "conversations"
    __table_args__ = (
        sa.Index("ix_conversations_owner_updated", "owner", "updated_at"),
        sa.CheckConstraint("owner <> ''", name="ck_conversations_owner_not_empty"),
    )

    id: str = Field(primary_key=True, max_length=CONVERSATION_ID_MAX_CHARS)
    owner: str = Field(max_length=OWNER_MAX_CHARS, nullable=False)
    title: str = Field(default="", max_length=TITLE_MAX_CHARS * 4, nullable=False)
    created_at: datetime.datetime = _timestamp()
    updated_at: datetime.datetime = _timestamp()
    active_request_id: str | None = Field(default=None, max_length=128, nullable=True)
    active_since: datetime.datetime | None = _timestamp(nullable=True)
    active_instance: str | None = Field(default=None, max_length=128, nullable=True)


class ConversationRun(SQLModel, table=True):
    """What one chat request did: timings, token usage and how it ended. Never message contents."""

    __tablename__ = "conversation_runs"
    __table_args__ = (sa.Index("ix_conversation_runs_conversation", "conversation_id", "started_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    conversation_id: str = Field(sa_column=conversation_id_column())
    owner: str = Field(max_length=OWNER_MAX_CHARS, nullable=False)
    request_id: str = Field(default="", max_length=128, nullable=False)
    started_at: datetime.datetime = _timestamp()
    finished_at: datetime.datetime = _timestamp()
    outcome: str = Field(max_length=64, nullable=False)
    launch_ms: float = Field(default=0.0, nullable=False)
    model_ms: float = Field(default=0.0, nullable=False)
    tools_ms: float = Field(default=0.0, nullable=False)
    teardown_ms: float = Field(default=0.0, nullable=False)
    requests: int = Field(default=0, nullable=False)
    input_tokens: int = Field(default=0, nullable=False)
    output_tokens: int = Field(default=0, nullable=False)
    total_tokens: int = Field(default=0, nullable=False)


class ConversationMessage(SQLModel, table=True):
    """Where one message of a thread begins in the SDK's history, and what the history cannot say.

    `first_item` is the `agent_messages` row id of the message's first item; the message runs up to
    the next message's first item. `id` is the `UIMessage` id: the client's for a user message, the
    stream's `start` chunk `messageId` for an answer. `failed_calls` is a JSON list of tool call ids.
    """

    __tablename__ = "conversation_messages"
    __table_args__ = (sa.Index("ix_conversation_messages_first_item", "conversation_id", "first_item"),)

    conversation_id: str = Field(sa_column=conversation_id_column(primary_key=True))
    id: str = Field(primary_key=True, max_length=MESSAGE_ID_MAX_CHARS)
    owner: str = Field(max_length=OWNER_MAX_CHARS, nullable=False)
    role: str = Field(max_length=16, nullable=False)
    first_item: int = Field(nullable=False)
    created_at: datetime.datetime = _timestamp()
    interrupted: bool = Field(default=False, nullable=False)
    failed_calls: str = Field(default="[]", nullable=False)
