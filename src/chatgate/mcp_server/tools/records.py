"""Records tools: JSON documents in named collections, for the bound user only."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from chatgate.mcp_server.context import ToolResources
from chatgate.mcp_server.tools.annotations import ADDS, READS, REPLACES
from chatgate.mcp_server.tools.database_calls import database_call
from chatgate.storage import documents
from chatgate.storage.records import RecordStore

Collection = Annotated[str, Field(description="Name of the collection, e.g. notes or contacts.")]
RecordId = Annotated[
    str, Field(description="Id of the record, as returned by records_list or records_create.")
]
Scalar = str | int | float | bool | None


async def records_collections(ctx: Context[ToolResources, Any]) -> dict[str, Any]:
    """List the user's record collections with the number of records in each."""
    async with database_call(ctx, "records_collections") as (engine, owner):
        return await RecordStore(engine, owner).collections()


async def records_list(
    ctx: Context[ToolResources, Any],
    collection: Collection,
    where: Annotated[
        dict[str, Scalar] | None,
        Field(description="Only return records whose top-level data fields equal these values."),
    ] = None,
    order_by: Annotated[
        str | None,
        Field(
            description="Sort by created_at, updated_at or a top-level data field; prefix - for descending."
        ),
    ] = None,
    limit: Annotated[
        int, Field(description=f"Return at most this many records (1-{documents.MAX_LIMIT}).")
    ] = documents.DEFAULT_LIMIT,
    offset: Annotated[int, Field(description="Skip this many matching records first.")] = 0,
) -> dict[str, Any]:
    """List records in a collection, oldest first unless order_by says otherwise."""
    async with database_call(ctx, "records_list") as (engine, owner):
        return await RecordStore(engine, owner).list(
            collection, where=where, order_by=order_by, limit=limit, offset=offset
        )


async def records_get(ctx: Context[ToolResources, Any], id: RecordId) -> dict[str, Any]:
    """Get one record by id."""
    async with database_call(ctx, "records_get") as (engine, owner):
        return await RecordStore(engine, owner).get(id)


async def records_create(
    ctx: Context[ToolResources, Any],
    collection: Collection,
    data: Annotated[dict[str, Any], Field(description="The record's content as a JSON object.")],
) -> dict[str, Any]:
    """Create a record in a collection (the collection is created on first use)."""
    async with database_call(ctx, "records_create") as (engine, owner):
        return await RecordStore(engine, owner).create(collection, data)


async def records_update(
    ctx: Context[ToolResources, Any],
    id: RecordId,
    patch: Annotated[
        dict[str, Any],
        Field(description="JSON merge patch: fields to set, nested objects merged, null removes a field."),
    ],
) -> dict[str, Any]:
    """Change fields of a record with a JSON merge patch and return the updated record."""
    async with database_call(ctx, "records_update") as (engine, owner):
        return await RecordStore(engine, owner).update(id, patch)


async def records_delete(ctx: Context[ToolResources, Any], id: RecordId) -> dict[str, Any]:
    """Delete a record by id."""
    async with database_call(ctx, "records_delete") as (engine, owner):
        return await RecordStore(engine, owner).delete(id)


def register(server: MCPServer[ToolResources]) -> None:
    server.add_tool(records_collections, name="records_collections", annotations=READS)
    server.add_tool(records_list, name="records_list", annotations=READS)
    server.add_tool(records_get, name="records_get", annotations=READS)
    server.add_tool(records_create, name="records_create", annotations=ADDS)
    server.add_tool(records_update, name="records_update", annotations=REPLACES)
    server.add_tool(records_delete, name="records_delete", annotations=REPLACES)
