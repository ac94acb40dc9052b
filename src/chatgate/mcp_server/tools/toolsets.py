"""Operator toolset tools (`chatgate.toolkit`), registered like every other tool of the bound server.

Each tool's input schema comes from its signature (type hints, `Annotated[..., Field(description=…)]`)
minus its `ToolContext` parameter, which the tool server fills with the bound user's resources. What
may reach the model is curated here: a toolkit `ToolError`, and the storage, file and API errors
whose messages are written for the model, pass their text on; anything else is withheld (the model
reads only that the tool failed) and logged on the tool server's stderr by the MCP SDK.

Registration also enforces the one rule operators cannot opt out of: no parameter, at any depth of
the input schema, may be named like a user id. The API process registers every toolset once at
start-up (`chatgate.tool_catalog`), so a violation refuses to start the service.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from chatgate.files import FileSpaceError
from chatgate.http_apis.catalog import ApiCatalog
from chatgate.http_apis.errors import ApiCallError
from chatgate.mcp_server.context import ToolResources, resources_of
from chatgate.mcp_server.tools.apis import api_secret
from chatgate.mcp_server.tools.database_calls import AUDIT_TIME_LIMIT_SECONDS
from chatgate.storage.audit import record_tool_call
from chatgate.storage.errors import StorageError
from chatgate.tool_config import ToolConfigError
from chatgate.toolsets.context import BoundResources, ToolContext, ToolUser
from chatgate.toolsets.definition import NEEDS_APPROVAL_META, ToolDefinition, Toolset
from chatgate.toolsets.definition import ToolError as ToolkitToolError

if TYPE_CHECKING:
    from chatgate.mcp_server.server import StrictMCPServer

# Parameter names that would let the model say whose data to act on, compared without case,
# underscores or dashes: `user_id`, `userId` and `USER-ID` are one name.
USER_ID_LIKE = frozenset(
    {
        "uid",
        "user",
        "userid",
        "userids",
        "username",
        "users",
        "owner",
        "ownerid",
        "sub",
        "tenant",
        "tenantid",
        "accountid",
        "principal",
        "principalid",
        "asuser",
        "actas",
        "onbehalfof",
    }
)
_CONTEXT_PARAMETER = "mcp_context"


def register(server: StrictMCPServer, toolsets: list[Toolset], catalog: ApiCatalog) -> None:
    """Register every tool of `toolsets` on `server`.

    Raises:
        ToolConfigError: a tool's signature cannot become a schema, a parameter is named like a
            user id, or its name is already taken by another tool.
    """
    apis = {api.config.name: api.config for api in catalog.apis}
    taken = set(server.tool_names())
    for toolset in toolsets:
        for definition in toolset.tools:
            where = f"[[toolsets]] {toolset.name}: tool {definition.name}"
            if definition.name in taken:
                raise ToolConfigError(f"{where}: another tool already has this name")
            function = _tool_function(definition, apis, where)
            try:
                server.add_tool(
                    function,
                    name=definition.name,
                    description=definition.description,
                    annotations=_annotations(definition),
                    # Read by the API process: the user approves each call before it runs.
                    meta={NEEDS_APPROVAL_META: True} if definition.needs_approval else None,
                )
            except ToolConfigError:
                raise
            except Exception as exc:  # the SDK's schema errors: the operator needs their text
                raise ToolConfigError(f"{where}: its parameters cannot become a tool schema: {exc}") from exc
            taken.add(definition.name)
            for name in _property_names(server.input_schema(definition.name) or {}):
                if is_user_id_like(name):
                    raise ToolConfigError(
                        f"{where}: parameter {name!r} is named like a user id; tools act for the bound "
                        "user only (use ctx.user.id), so no parameter may name a user"
                    )


def is_user_id_like(name: str) -> bool:
    """Whether a parameter called `name` would name a user (`user_id`, `userId`, `owner`, …)."""
    return _normalized(name) in USER_ID_LIKE


def _tool_function(definition: ToolDefinition, apis: dict[str, Any], where: str) -> Callable[..., Any]:
    """The function the MCP server calls: the operator's, with its `ToolContext` filled in."""
    try:
        signature = inspect.signature(definition.fn, eval_str=True)
    except Exception as exc:
        raise ToolConfigError(f"{where}: its type hints cannot be resolved: {exc}") from exc
    context_names = [name for name, p in signature.parameters.items() if p.annotation is ToolContext]
    if len(context_names) > 1:
        raise ToolConfigError(f"{where}: only one parameter may be the ToolContext")
    context_name = context_names[0] if context_names else None
    parameters = [p for name, p in signature.parameters.items() if name != context_name]
    for parameter in parameters:
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL) or (
            parameter.kind is inspect.Parameter.VAR_KEYWORD
        ):
            raise ToolConfigError(f"{where}: parameter {parameter.name!r} must be a plain named parameter")
        if parameter.name == _CONTEXT_PARAMETER:
            raise ToolConfigError(f"{where}: the parameter name {_CONTEXT_PARAMETER!r} is reserved")
    read_only = definition.read_only

    async def call(mcp_context: Context[ToolResources, Any], **arguments: Any) -> Any:
        resources = resources_of(mcp_context)
        identity = resources.identity
        context = ToolContext(
            user=ToolUser(id=identity.user_id, claims=dict(identity.claims)),
            tool=definition.name,
            read_only=read_only,
            resources=BoundResources(
                engine=resources.engine,
                files=resources.files,
                api_client=resources.api_client,
                apis=apis,
                secret_for=lambda api: api_secret(resources, api),
            ),
            progress=mcp_context.report_progress,
        )
        if context_name is not None:
            arguments[context_name] = context
        started = time.perf_counter()
        outcome = "error"
        try:
            with _curated_errors():
                result = await definition.fn(**arguments)
            outcome = "ok"
            return result
        finally:
            if context.engine_used is not None:
                await _audit(context, resources, outcome, time.perf_counter() - started)

    context_parameter = inspect.Parameter(
        _CONTEXT_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=Context[ToolResources, Any]
    )
    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[context_parameter, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in parameters)]
    )
    call.__annotations__ = {
        _CONTEXT_PARAMETER: Context[ToolResources, Any],
        **{p.name: p.annotation for p in parameters if p.annotation is not inspect.Parameter.empty},
    }
    if signature.return_annotation is not inspect.Signature.empty:
        call.__annotations__["return"] = signature.return_annotation
    call.__name__ = call.__qualname__ = definition.name
    call.__doc__ = definition.description
    return call


@contextmanager
def _curated_errors() -> Iterator[None]:
    """Errors whose messages are written for the model pass on as `ToolError`; the rest propagate
    (the MCP SDK then withholds their text from the model and logs them)."""
    try:
        yield
    except ToolError:
        raise
    except (ToolkitToolError, StorageError, FileSpaceError) as exc:
        raise ToolError(str(exc)) from None
    except ApiCallError as exc:
        raise ToolError(f"the API call failed: {exc}") from None


async def _audit(context: ToolContext, resources: ToolResources, outcome: str, seconds: float) -> None:
    engine = context.engine_used
    assert engine is not None
    # Shielded: a cancelled call is still audited, within a bound (like the built-in database tools).
    with anyio.CancelScope(shield=True), anyio.move_on_after(AUDIT_TIME_LIMIT_SECONDS):
        await record_tool_call(
            engine,
            owner=resources.identity.user_id,
            tool=context.tool,
            outcome=outcome,
            duration_ms=seconds * 1000,
            request_id=resources.settings.request_id,
        )


def _annotations(definition: ToolDefinition) -> ToolAnnotations:
    idempotent = definition.idempotent
    if idempotent is None and definition.read_only:
        idempotent = True
    return ToolAnnotations(
        readOnlyHint=definition.read_only,
        destructiveHint=definition.destructive,
        idempotentHint=idempotent,
        openWorldHint=definition.open_world,
    )


def _property_names(schema: Any) -> Iterator[str]:
    """Every property name anywhere in a JSON schema (nested objects, arrays, `$defs`, unions)."""
    if isinstance(schema, dict):
        properties = schema.get("properties")
        if isinstance(properties, dict):
            yield from (name for name in properties if isinstance(name, str))
        for value in schema.values():
            yield from _property_names(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _property_names(item)


def _normalized(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())
