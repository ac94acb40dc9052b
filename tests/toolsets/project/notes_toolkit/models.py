"""The operator's own table."""

from __future__ import annotations

import uuid

from sqlmodel import Field, SQLModel


class Note(SQLModel, table=True):
    __tablename__ = "toolset_test_notes"

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True, max_length=32)
    owner: str = Field(max_length=1024, index=True)
    text: str = Field(max_length=500)
