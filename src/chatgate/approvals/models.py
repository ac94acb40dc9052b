"""The tables of paused runs and their tool approvals (made by migrations 0006 and 0008, not `create_all`)."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chatgate.conversations.models import conversation_id_column
from chatgate.storage.models import OWNER_MAX_CHARS, utc_now


class PausedRun(SQLModel, table=True):
    """A run of one conversation stopped until its approvals are answered: the SDK's `RunState` as
    JSON, and the assistant message id the stream announced (the answer continues in it)."""

    __tablename__ = "paused_runs"

    conversation_id: str = Field(sa_column=conversation_id_column(primary_key=True))
    owner: str = Field(max_length=OWNER_MAX_CHARS, nullable=False)
    state: str = Field(sa_type=sa.Text(), nullable=False)
    message_id: str | None = Field(default=None, max_length=128, nullable=True)
    created_at: datetime.datetime = Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True))
    expires_at: datetime.datetime = Field(sa_type=sa.DateTime(timezone=True))


class ToolApproval(SQLModel, table=True):
    """One tool call waiting for (or given) the user's answer; kept after the answer so a replay is
    recognised. `decision`: None (pending), `approved`, `ran` (approved and sent to the tool server;
    `output` is what it returned, None until it did), `denied`, `expired` or `superseded` (the user
    sent a new message instead). `output` is added by migration 0008."""

    __tablename__ = "tool_approvals"
    __table_args__ = (sa.Index("ix_tool_approvals_conversation", "conversation_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=64)
    conversation_id: str = Field(sa_column=conversation_id_column())
    owner: str = Field(max_length=OWNER_MAX_CHARS, nullable=False)
    tool_call_id: str = Field(max_length=256, nullable=False)
    tool: str = Field(max_length=256, nullable=False)
    arguments: str = Field(sa_type=sa.Text(), nullable=False)
    created_at: datetime.datetime = Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True))
    expires_at: datetime.datetime = Field(sa_type=sa.DateTime(timezone=True))
    decision: str | None = Field(default=None, max_length=16, nullable=True)
    reason: str | None = Field(default=None, sa_type=sa.Text(), nullable=True)
    answered_at: datetime.datetime | None = Field(
        default=None, sa_type=sa.DateTime(timezone=True), nullable=True
    )
    output: str | None = Field(default=None, sa_type=sa.Text(), nullable=True)
