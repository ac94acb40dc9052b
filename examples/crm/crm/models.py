"""The CRM's tables. Every row has an `owner`: the user it belongs to (chatgate's bound user id)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

InteractionKind = Literal["call", "email", "meeting", "note"]


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _timestamp() -> Any:
    return Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True), nullable=False)


class Contact(SQLModel, table=True):
    """A person the user works with (served as a declared table: `contacts_*`)."""

    __tablename__ = "crm_contacts"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner: str = Field(max_length=1024, index=True)
    name: str = Field(min_length=1, max_length=200, description="Full name of the contact.")
    email: str | None = Field(default=None, max_length=320, description="Email address of the contact.")
    company: str | None = Field(default=None, max_length=200, description="Company the contact works for.")
    created_at: datetime.datetime = _timestamp()


class Interaction(SQLModel, table=True):
    """A call, email or meeting with one of the user's contacts (written by `crm_log_interaction`)."""

    __tablename__ = "crm_interactions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner: str = Field(max_length=1024, index=True)
    contact_id: uuid.UUID = Field(index=True)
    kind: str = Field(max_length=16)
    summary: str = Field(max_length=2000)
    happened_at: datetime.datetime = _timestamp()
