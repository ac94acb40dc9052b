"""The CRM's tools for the agent, over `crm.service`. Each acts for the signed-in user only:
the user comes from `ctx.user`, never from an argument."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import Field

from chatgate.toolkit import ToolContext, ToolError, Toolset
from crm import service
from crm.models import InteractionKind

toolset = Toolset("crm", description="The user's customer relationships.")

ContactId = Annotated[uuid.UUID, Field(description="Id of the contact, as returned by crm_find_contacts.")]


@toolset.tool(read_only=True)
async def crm_find_contacts(
    ctx: ToolContext,
    query: Annotated[
        str,
        Field(min_length=1, max_length=100, description="Text to look for in names, emails and companies."),
    ],
) -> dict[str, Any]:
    """Find the user's contacts whose name, email or company contains the text."""
    async with ctx.db() as session:
        contacts = await service.find_contacts(session, ctx.user.id, query)
    return {
        "contacts": [
            {"id": str(c.id), "name": c.name, "email": c.email, "company": c.company} for c in contacts
        ]
    }


@toolset.tool(destructive=False)
async def crm_log_interaction(
    ctx: ToolContext,
    contact_id: ContactId,
    kind: Annotated[
        InteractionKind, Field(description="What happened: a call, an email, a meeting or a note.")
    ],
    summary: Annotated[str, Field(min_length=1, max_length=2000, description="What was said or agreed.")],
) -> dict[str, Any]:
    """Record a call, email, meeting or note with one of the user's contacts."""
    try:
        async with ctx.db() as session:
            interaction = await service.log_interaction(session, ctx.user.id, contact_id, kind, summary)
    except service.ContactNotFoundError:
        raise ToolError("contact not found; look it up with crm_find_contacts first") from None
    ctx.log.info("interaction logged")  # the tool server's log: never the model, never the user id
    return {"id": str(interaction.id), "contact_id": str(contact_id), "kind": kind}


@toolset.tool(read_only=True)
async def crm_contact_history(ctx: ToolContext, contact_id: ContactId) -> dict[str, Any]:
    """List everything recorded with one of the user's contacts, oldest first."""
    try:
        async with ctx.db() as session:
            interactions = await service.history(session, ctx.user.id, contact_id)
    except service.ContactNotFoundError:
        raise ToolError("contact not found; look it up with crm_find_contacts first") from None
    return {
        "interactions": [
            {"kind": i.kind, "summary": i.summary, "at": i.happened_at.isoformat()} for i in interactions
        ]
    }


@toolset.tool(destructive=True, idempotent=True)
async def crm_export_contacts(ctx: ToolContext) -> dict[str, Any]:
    """Write all of the user's contacts to exports/contacts.csv in their files, replacing an older export."""
    async with ctx.db() as session:
        text, count = await service.contacts_csv(session, ctx.user.id)
    written = await ctx.files.write("exports/contacts.csv", text, mode="overwrite")
    return {"path": written["path"], "contacts": count}


@toolset.tool(read_only=True, open_world=True)
async def crm_open_invoices(ctx: ToolContext) -> dict[str, Any]:
    """Total the user's open invoices in the billing system (with the user's own billing token)."""
    response = await ctx.http("billing").get("/invoices", params={"status": "open"})
    invoices = response.body.get("invoices", []) if isinstance(response.body, dict) else []
    return {"open_invoices": len(invoices), "total": sum(float(i.get("amount", 0)) for i in invoices)}
