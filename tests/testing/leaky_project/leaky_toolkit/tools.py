"""Notes in the operator's own table. `kitnotes_list_mine` filters by the bound user;
`kitnotes_list_everyone` forgets to (the bug `assert_isolated` must catch)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import Field
from sqlmodel import Field as Column
from sqlmodel import SQLModel, col, select

from chatgate.toolkit import ToolContext, Toolset

toolset = Toolset("kitnotes", description="The user's notes.")


class KitNote(SQLModel, table=True):
    __tablename__ = "kit_leaky_notes"

    id: str = Column(default_factory=lambda: uuid.uuid4().hex, primary_key=True, max_length=32)
    owner: str = Column(max_length=1024, index=True)
    text: str = Column(max_length=500)


@toolset.tool(destructive=False)
async def kitnotes_add(
    ctx: ToolContext, text: Annotated[str, Field(description="The text of the note.", max_length=500)]
) -> dict[str, Any]:
    """Add a note for the user."""
    async with ctx.db() as session:
        note = KitNote(owner=ctx.user.id, text=text)
        session.add(note)
        await session.flush()
        return {"id": note.id, "text": note.text}


@toolset.tool(read_only=True)
async def kitnotes_list_mine(ctx: ToolContext) -> dict[str, Any]:
    """List the user's notes."""
    async with ctx.db() as session:
        notes = (await session.exec(select(KitNote).where(KitNote.owner == ctx.user.id))).all()
    return {"items": [{"id": note.id, "text": note.text} for note in notes]}


@toolset.tool(read_only=True)
async def kitnotes_list_everyone(ctx: ToolContext) -> dict[str, Any]:
    """List the notes."""
    async with ctx.db() as session:
        notes = (await session.exec(select(KitNote).order_by(col(KitNote.text)))).all()  # no owner filter
    return {"items": [{"id": note.id, "text": note.text} for note in notes]}
