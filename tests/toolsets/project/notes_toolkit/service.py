"""The operator's service layer: plain functions over a session and an owner, no chatgate in them."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notes_toolkit.models import Note


async def add_note(session: AsyncSession, owner: str, text: str) -> Note:
    note = Note(owner=owner, text=text)
    session.add(note)
    await session.flush()
    return note


async def notes_of(session: AsyncSession, owner: str) -> list[Note]:
    result = await session.exec(select(Note).where(Note.owner == owner).order_by(col(Note.text)))
    return list(result.all())


async def every_note(session: AsyncSession) -> list[Note]:
    """A deliberately unfiltered query: only row-level security can keep it to one owner."""
    result = await session.exec(select(Note).order_by(col(Note.text)))
    return list(result.all())
