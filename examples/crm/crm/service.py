"""The CRM's service layer: plain async functions over a session and an owner.

Nothing here knows about chatgate or MCP; the same functions could serve a web UI. Every query is
filtered by `owner`, and a contact id that belongs to someone else is simply "not found".
"""

from __future__ import annotations

import csv
import io
import uuid

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Contact, Interaction, InteractionKind


class ContactNotFoundError(LookupError):
    """No contact with that id belongs to this owner."""


async def find_contacts(session: AsyncSession, owner: str, query: str, *, limit: int = 20) -> list[Contact]:
    """The owner's contacts whose name, email or company contains `query` (case-insensitive)."""
    pattern = f"%{query.lower()}%"
    statement = (
        select(Contact)
        .where(Contact.owner == owner)
        .where(
            or_(
                col(Contact.name).ilike(pattern),
                col(Contact.email).ilike(pattern),
                col(Contact.company).ilike(pattern),
            )
        )
        .order_by(col(Contact.name))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def contact_of(session: AsyncSession, owner: str, contact_id: uuid.UUID) -> Contact:
    """Raises `ContactNotFoundError` unless the contact exists and belongs to `owner`."""
    contact = (
        await session.exec(select(Contact).where(Contact.owner == owner, Contact.id == contact_id))
    ).first()
    if contact is None:
        raise ContactNotFoundError(str(contact_id))
    return contact


async def log_interaction(
    session: AsyncSession, owner: str, contact_id: uuid.UUID, kind: InteractionKind, summary: str
) -> Interaction:
    await contact_of(session, owner, contact_id)  # never attach a note to someone else's contact
    interaction = Interaction(owner=owner, contact_id=contact_id, kind=kind, summary=summary)
    session.add(interaction)
    await session.flush()
    return interaction


async def history(session: AsyncSession, owner: str, contact_id: uuid.UUID) -> list[Interaction]:
    await contact_of(session, owner, contact_id)
    statement = (
        select(Interaction)
        .where(Interaction.owner == owner, Interaction.contact_id == contact_id)
        .order_by(col(Interaction.happened_at))
    )
    return list((await session.exec(statement)).all())


async def contacts_csv(session: AsyncSession, owner: str) -> tuple[str, int]:
    """All of the owner's contacts as CSV text, and how many there are."""
    contacts = (
        await session.exec(select(Contact).where(Contact.owner == owner).order_by(col(Contact.name)))
    ).all()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "email", "company"])
    for contact in contacts:
        writer.writerow([contact.name, contact.email or "", contact.company or ""])
    return buffer.getvalue(), len(contacts)
