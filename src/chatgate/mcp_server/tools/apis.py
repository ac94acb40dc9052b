"""HTTP API tools: `api_<name>_<operationId>` (or `api_<name>_<method>_<path>`, for operations without
an operationId) for each allowed operation in the compiled catalog.

Their input schemas come from the OpenAPI document, not from a Python signature, so each tool is
a `Tool` with that schema and a pass-through argument model; the arguments are validated here
against the schema (jsonschema, Draft 2020-12) before any request is built. Every failure reaches
the model as a curated `ToolError`: the upstream status and a short excerpt, never a credential.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import ToolAnnotations
from pydantic import ConfigDict

from chatgate.http_apis.catalog import ApiCatalog
from chatgate.http_apis.config import ApiConfig
from chatgate.http_apis.errors import ApiCallError, RequestRefusedError
from chatgate.http_apis.operations import OperationSpec
from chatgate.mcp_server.context import ToolResources, resources_of

logger = logging.getLogger(__name__)

_MAX_VALIDATION_MESSAGE = 300


class _RawArguments(ArgModelBase):
    """Accepts any JSON object and hands it over whole: the schema check happens in the tool."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        """`{"arguments": {name: value}}`: the call's arguments, as the tool function takes them."""
        return {"arguments": dict(self.model_extra or {})}


def api_tools(catalog: ApiCatalog) -> list[Tool]:
    """One MCP tool per operation in `catalog`."""
    tools = []
    for api in catalog.apis:
        for operation in api.operations:
            tools.append(
                Tool(
                    fn=_tool_function(api.config, operation),
                    name=operation.tool_name,
                    description=operation.description,
                    parameters=operation.input_schema,
                    fn_metadata=FuncMetadata(arg_model=_RawArguments),
                    is_async=True,
                    context_kwarg="ctx",
                    annotations=ToolAnnotations(
                        readOnlyHint=operation.read_only,
                        destructiveHint=operation.destructive,
                        idempotentHint=operation.idempotent,
                        openWorldHint=True,
                    ),
                )
            )
    return tools


def _tool_function(api: ApiConfig, operation: OperationSpec) -> Any:
    validators: list[Any] = []

    def validator() -> Any:
        # Built on first use: a tool server whose API tools go uncalled never imports jsonschema.
        if not validators:
            from jsonschema import Draft202012Validator

            validators.append(Draft202012Validator(operation.input_schema))
        return validators[0]

    async def call_api(arguments: dict[str, Any], ctx: Context[ToolResources, Any]) -> dict[str, Any]:
        # Returns `ApiResponse.to_json()`: {"status", "content_type", "body", "truncated"?}.
        resources = resources_of(ctx)
        # Models send null for "not given"; the schema's optional fields mean the same.
        arguments = {key: value for key, value in arguments.items() if value is not None}
        errors = sorted(validator().iter_errors(arguments), key=lambda e: [str(p) for p in e.path])
        error = errors[0] if errors else None
        if error is not None:
            where = ".".join(str(part) for part in error.path) or "arguments"
            raise ToolError(f"invalid {where}: {error.message[:_MAX_VALIDATION_MESSAGE]}")
        secret = api_secret(resources, api)
        if resources.api_client is None:  # pragma: no cover - the lifespan opens it whenever tools exist
            raise ToolError("API tools are not available in this session")
        try:
            response = await resources.api_client.call(
                api, operation, arguments, user_id=resources.identity.user_id, secret=secret
            )
        except RequestRefusedError as exc:
            logger.warning("api %s: refused %s: %s", api.name, operation.operation_id, exc)
            raise ToolError(f"refused: {exc}") from None
        except ApiCallError as exc:
            raise ToolError(f"{api.name} API call failed: {exc}") from None
        return response.to_json()

    call_api.__name__ = operation.tool_name
    return call_api


def api_secret(resources: ToolResources, api: ApiConfig) -> str | None:
    """The credential for calling `api` in this session: none, the operator's, or the bound user's own.

    Raises:
        mcp.server.mcpserver.exceptions.ToolError: the credential is not available (with what to do about it).
    """
    if api.auth == "none":
        return None
    if api.auth == "service":
        secret = resources.settings.api_service_secrets.get(api.name)
        if secret is None:
            raise ToolError(
                f"the {api.name} API is not available: the operator has not configured its secret"
            )
        return secret
    credentials = resources.settings.api_user_credentials
    if credentials is None:
        raise ToolError(
            f"the {api.name} API needs your own credential, but stored credentials are unavailable on "
            "this server right now (the operator should check CHATGATE_ENCRYPTION_KEY and the database)"
        )
    secret = credentials.get(api.name)
    if secret is None:
        raise ToolError(
            f"you have not connected the {api.name} API yet: connect it by saving your token with "
            f"PUT /api/credentials/{api.name}, then ask again"
        )
    return secret
