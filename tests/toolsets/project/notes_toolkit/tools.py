"""The operator's tools, written with `chatgate.toolkit` over `notes_toolkit.service`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from chatgate.toolkit import ToolContext, ToolError, Toolset
from notes_toolkit import service

toolset = Toolset("notes", description="The user's short notes.")


class Label(BaseModel):
    color: str = Field(description="A color name.")


@toolset.tool
async def notes_add(
    ctx: ToolContext,
    text: Annotated[str, Field(description="The text of the note.", max_length=500)],
    label: Annotated[Label | None, Field(description="An optional label.")] = None,
) -> dict[str, Any]:
    """Add a note for the user."""
    async with ctx.db() as session:
        note = await service.add_note(session, ctx.user.id, text)
        return {"id": note.id, "text": note.text}


@toolset.tool(read_only=True)
async def notes_list(ctx: ToolContext) -> dict[str, Any]:
    """List the user's notes."""
    async with ctx.db() as session:
        notes = await service.notes_of(session, ctx.user.id)
    return {"texts": [note.text for note in notes]}


@toolset.tool(read_only=True)
async def notes_list_unfiltered(ctx: ToolContext) -> dict[str, Any]:
    """List every note the database shows this session (no owner filter in code)."""
    async with ctx.db() as session:
        notes = await service.every_note(session)
    return {"texts": [note.text for note in notes]}


@toolset.tool(read_only=True)
async def notes_write_in_read_only(ctx: ToolContext) -> dict[str, Any]:
    """Try to write inside a read-only tool."""
    async with ctx.db(write=False) as session:
        await service.add_note(session, ctx.user.id, "sneaky")
    return {"written": True}


@toolset.tool(destructive=False)
async def notes_save_file(
    ctx: ToolContext,
    name: Annotated[str, Field(description="File name.")],
    content: Annotated[str, Field(description="File content.")],
) -> dict[str, Any]:
    """Save a text file in the user's files."""
    return await ctx.files.write(name, content, mode="overwrite")


@toolset.tool(read_only=True)
async def notes_read_file(
    ctx: ToolContext, name: Annotated[str, Field(description="File name.")]
) -> dict[str, Any]:
    """Read a text file from the user's files."""
    return await ctx.files.read(name)


@toolset.tool(read_only=True)
async def notes_profile(ctx: ToolContext) -> dict[str, Any]:
    """Return who the tool acts for."""
    return {"id": ctx.user.id, "claims": dict(ctx.user.claims)}


@toolset.tool(read_only=True)
async def notes_refuse(ctx: ToolContext) -> str:
    """Fail with a message for the model."""
    raise ToolError("the notes archive is closed on Sundays")


@toolset.tool(read_only=True)
async def notes_crash(ctx: ToolContext) -> str:
    """Fail unexpectedly."""
    ctx.log.info("about to crash")
    raise RuntimeError("secret-internal-detail /srv/notes.db password=hunter2")


@toolset.tool(read_only=True, open_world=True)
async def notes_api_whoami(
    ctx: ToolContext, api: Annotated[str, Field(description="Configured API name.")]
) -> dict[str, Any]:
    """Ask a configured API who we are."""
    response = await ctx.http(api).get("/whoami")
    return {"status": response.status, "body": response.body}


@toolset.tool(read_only=True, open_world=True)
async def notes_api_escape(ctx: ToolContext) -> dict[str, Any]:
    """Try to leave the configured API."""
    response = await ctx.http("mine").get("/../admin/secret")
    return {"status": response.status}


@toolset.tool(needs_approval=True, destructive=True, idempotent=True)
async def notes_clear(ctx: ToolContext) -> dict[str, Any]:
    """Delete all of the user's notes."""
    async with ctx.db() as session:
        notes = await service.notes_of(session, ctx.user.id)
        for note in notes:
            await session.delete(note)
    return {"deleted": len(notes)}
