"""Declared-table tools: `<table>_list/_get/_create/_update/_delete` for each configured table.

The input schemas come from the table's SQLModel class (`chatgate.storage.table_store`); the owner
column, primary key and timestamps never appear in them, so no argument can name another user.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field, WithJsonSchema

from chatgate.mcp_server.context import ToolResources
from chatgate.mcp_server.tools.annotations import ADDS, READS, REPLACES
from chatgate.mcp_server.tools.database_calls import database_call
from chatgate.storage import documents
from chatgate.storage.table_store import TableSchemas, TableStore, schemas_for
from chatgate.storage.tables import TableSpec

_CTX = Context[ToolResources, Any]
_RESULT = dict[str, Any]


def register(server: MCPServer[ToolResources], specs: list[TableSpec]) -> None:
    """Register the five tools of every declared table."""
    for spec in specs:
        _register_table(server, spec)


def _register_table(server: MCPServer[ToolResources], spec: TableSpec) -> None:
    schemas = schemas_for(spec)
    item, plural = spec.item, f"{spec.item}s"
    key_type = str if schemas.key_annotation is uuid.UUID else schemas.key_annotation
    key = _annotated(key_type, Field(description=f"Id of the {item}, as returned by {spec.name}_list."))

    async def list_rows(
        ctx: _CTX, where: Any = None, order_by: str | None = None, limit: int = 20, offset: int = 0
    ) -> _RESULT:
        async with database_call(ctx, f"{spec.name}_list") as (engine, owner):
            filters = where.model_dump(exclude_unset=True) if isinstance(where, BaseModel) else where
            store = TableStore(engine, spec, owner)
            return await store.list(filters, order_by=order_by, limit=limit, offset=offset)

    async def get_row(ctx: _CTX, id: Any) -> _RESULT:
        async with database_call(ctx, f"{spec.name}_get") as (engine, owner):
            return await TableStore(engine, spec, owner).get(id)

    async def create_row(ctx: _CTX, **values: Any) -> _RESULT:
        async with database_call(ctx, f"{spec.name}_create") as (engine, owner):
            return await TableStore(engine, spec, owner).create(values)

    async def update_row(ctx: _CTX, id: Any, changes: Any) -> _RESULT:
        async with database_call(ctx, f"{spec.name}_update") as (engine, owner):
            patch = changes.model_dump(exclude_unset=True) if isinstance(changes, BaseModel) else changes
            return await TableStore(engine, spec, owner).update(id, patch)

    async def delete_row(ctx: _CTX, id: Any) -> _RESULT:
        async with database_call(ctx, f"{spec.name}_delete") as (engine, owner):
            return await TableStore(engine, spec, owner).delete(id)

    order_help = f"Sort by one of {', '.join(schemas.order_fields)}; prefix - for descending."
    _typed(
        list_rows,
        where=(
            _annotated(
                schemas.where | None,
                *_inline(schemas.where),
                Field(description=f"Only return {plural} whose fields equal these."),
            ),
            None,
        ),
        order_by=(Annotated[str | None, Field(description=order_help)], None),
        limit=(
            Annotated[
                int, Field(description=f"Return at most this many {plural} (1-{documents.MAX_LIMIT}).")
            ],
            documents.DEFAULT_LIMIT,
        ),
        offset=(Annotated[int, Field(description=f"Skip this many matching {plural} first.")], 0),
    )
    _typed(get_row, id=(key, inspect.Parameter.empty))
    _typed(create_row, **_create_parameters(schemas))
    _typed(
        update_row,
        id=(key, inspect.Parameter.empty),
        changes=(
            _annotated(
                schemas.patch,
                *_inline(schemas.patch),
                Field(description="The fields to change; omitted fields stay as they are."),
            ),
            inspect.Parameter.empty,
        ),
    )
    _typed(delete_row, id=(key, inspect.Parameter.empty))

    for fn, verb in (
        (list_rows, "list"),
        (get_row, "get"),
        (create_row, "create"),
        (update_row, "update"),
        (delete_row, "delete"),
    ):
        fn.__name__ = fn.__qualname__ = f"{spec.name}_{verb}"
    server.add_tool(
        list_rows,
        name=f"{spec.name}_list",
        description=f"List the user's {plural}, oldest first.",
        annotations=READS,
    )
    server.add_tool(get_row, name=f"{spec.name}_get", description=f"Get one {item} by id.", annotations=READS)
    server.add_tool(
        create_row,
        name=f"{spec.name}_create",
        description=f"Create a {item} for the user.",
        annotations=ADDS,
    )
    server.add_tool(
        update_row,
        name=f"{spec.name}_update",
        description=f"Change fields of a {item} and return the updated {item}.",
        annotations=REPLACES,
    )
    server.add_tool(
        delete_row,
        name=f"{spec.name}_delete",
        description=f"Delete a {item} by id.",
        annotations=REPLACES,
    )


def _create_parameters(schemas: TableSchemas) -> dict[str, tuple[Any, Any]]:
    parameters: dict[str, tuple[Any, Any]] = {}
    for name, info in schemas.create.model_fields.items():
        default: Any = inspect.Parameter.empty
        described = Field(description=info.description)
        if info.default_factory is not None:
            described = Field(default_factory=info.default_factory, description=info.description)
        elif not info.is_required():
            default = info.default
        parameters[name] = (_annotated(info.annotation, *info.metadata, described), default)
    return parameters


def _inline(model: type[BaseModel]) -> list[WithJsonSchema]:
    """The model's schema inline rather than behind a `$ref`, which some OpenAI-compatible servers
    do not resolve; models whose own schema needs `$defs` keep the default."""
    schema = model.model_json_schema()
    if "$defs" in schema:
        return []
    schema.pop("title", None)
    return [WithJsonSchema(schema)]


def _annotated(base: Any, *metadata: Any) -> Any:
    """`Annotated[base, *metadata]` built at run time (the types come from the table's model)."""
    return Annotated[(base, *metadata)]


def _typed(fn: Callable[..., Any], **parameters: tuple[Any, Any]) -> None:
    """Give a generated tool function the signature its input schema is derived from."""
    ctx = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=_CTX)
    fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            ctx,
            *(
                inspect.Parameter(
                    name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
                )
                for name, (annotation, default) in parameters.items()
            ),
        ],
        return_annotation=_RESULT,
    )
    fn.__annotations__ = {"ctx": _CTX, **{name: annotation for name, (annotation, _) in parameters.items()}}
    fn.__annotations__["return"] = _RESULT
