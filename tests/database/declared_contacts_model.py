"""An operator's own table, declared in CHATGATE_CONFIG by the declared-table tests.

Integer primary key and a differently named owner column, to show nothing assumes the built-ins' shape.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Contact(SQLModel, table=True):
    __tablename__ = "test_contacts"

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=1024, index=True)
    name: str = Field(min_length=1, max_length=100, description="Full name of the contact.")
    email: str | None = Field(default=None, max_length=200)
    vip: bool = False
    internal_score: int = 0  # not writable: the tools never set it


class NotATable(SQLModel):
    name: str
