"""The tables this service owns: records, the built-in tasks table, and the audit log.

Every user table carries an `owner` column. Ids are random UUIDs, never sequences: a sequence
would let one user count everyone else's inserts, which is a way of detecting other users' rows.
The schema itself is created by the migrations in `migrations/`, not by `create_all`.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

OWNER_MAX_CHARS = 1024
COLLECTION_MAX_CHARS = 64

# JSONB on PostgreSQL (indexable, containment queries); JSON text on SQLite.
JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _timestamp() -> Any:
    return Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True), nullable=False)


class Record(SQLModel, table=True):
    """A JSON document in a named collection, owned by one user."""

    __tablename__ = "records"
    __table_args__ = (
        sa.Index("ix_records_owner_collection", "owner", "collection", "created_at"),
        sa.CheckConstraint("owner <> ''", name="ck_records_owner_not_empty"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner: str = Field(max_length=OWNER_MAX_CHARS, nullable=False)
    collection: str = Field(max_length=COLLECTION_MAX_CHARS, nullable=False)
    data: dict[str, Any] = Field(sa_type=JSONDocument, nullable=False)
    created_at: datetime.datetime = _timestamp()
    updated_at: datetime.datetime = _timestamp()


TaskPriority = Literal["low", "normal", "high"]


class Task(SQLModel, table=True):
    """The built-in declared table: a user's to-do list."""

    __tablename__ = "tasks"
    __table_args__ = (
        sa.Index("ix_tasks_owner_created", "owner", "created_at"),
        sa.CheckConstraint("owner <> ''", name="ck_tasks_owner_not_empty"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner: str = Field(max_length=OWNER_MAX_CHARS, nullable=False)
    title: str = Field(min_length=1, max_length=200, description="Short title of the task.")
    notes: str | None = Field(default=None, max_length=4000, description="Free-form notes about the task.")
    done: bool = Field(default=False, description="Whether the task is done.")
    due_date: datetime.date | None = Field(default=None, description="Date the task is due (YYYY-MM-DD).")
    priority: TaskPriority = Field(
        default="normal", sa_type=sa.String(10), description="Priority: low, normal or high."
    )
    created_at: datetime.datetime = _timestamp()
    updated_at: datetime.datetime = _timestamp()


class AuditEntry(SQLModel, table=True):
    """One tool call: who, what, how it ended, how long it took. Never the documents themselves."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_owner_at", "owner", "at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    at: datetime.datetime = _timestamp()
    owner: str = Field(max_length=OWNER_MAX_CHARS, nullable=False)
    tool: str = Field(max_length=128, nullable=False)
    outcome: str = Field(max_length=32, nullable=False)
    duration_ms: float = Field(nullable=False)
    request_id: str = Field(default="", max_length=128, nullable=False)


# Tables with an `owner` column and the owner-isolation policy (`api_credentials` is modeled in
# `chatgate.http_apis.credential_store`); `grant_app_role` grants each of them.
USER_TABLES = ("records", "tasks", "audit_log", "api_credentials")
# Used by the API process only: conversations, their runs, their messages' ids, the Agents SDK's
# message tables, and the instances' leases on the conversations they answer.
SERVICE_TABLES = (
    "conversations",
    "conversation_runs",
    "conversation_messages",
    "agent_sessions",
    "agent_messages",
    "paused_runs",
    "tool_approvals",
    "instance_leases",
)
