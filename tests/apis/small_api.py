"""Small OpenAPI documents written by a test, pointed at the upstream's `/echo/…` route.

`echo_tools(...)` compiles a document the way the API process does (a file named by `[[apis]]`),
writes the catalog, and opens an in-memory tool server on it: a tool call goes through the same
argument validation and request building as in production, and the echo shows what arrived.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client

from apis.upstream import Upstream
from chatgate.http_apis.catalog import ApiCatalog, write_catalog
from chatgate.http_apis.openapi_documents import compile_catalog
from chatgate.mcp_server.server import build_server
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings

OK = {"200": {"description": "ok"}}


def document(
    paths: dict[str, Any], *, schemas: dict[str, Any] | None = None, version: str = "3.0.3"
) -> dict[str, Any]:
    """An OpenAPI document of `version` with these paths (and component schemas)."""
    out: dict[str, Any] = {"openapi": version, "info": {"title": "t", "version": "1"}, "paths": paths}
    if schemas:
        out["components"] = {"schemas": schemas}
    return out


def operation(operation_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """An operation object answering 200, with `operationId` when given."""
    out: dict[str, Any] = {"responses": OK, **fields}
    if operation_id is not None:
        out["operationId"] = operation_id
    return out


def compile_document(
    upstream: Upstream, tmp_path: Path, doc: dict[str, Any], name: str = "t", **entry: Any
) -> ApiCatalog:
    """The catalog of one `[[apis]]` entry whose document is `doc`, calling the upstream."""
    spec = tmp_path / f"{name}-openapi.json"
    spec.write_text(json.dumps(doc), encoding="utf-8")
    config = {
        "apis": [
            {
                "name": name,
                "base_url": upstream.base_url,
                "openapi": spec.name,
                "allow_private": True,
                **entry,
            }
        ]
    }
    return compile_catalog(config, base_dir=tmp_path)


@asynccontextmanager
async def echo_tools(
    upstream: Upstream, tmp_path: Path, doc: dict[str, Any], **entry: Any
) -> AsyncIterator[Client]:
    """An in-memory tool server whose tools are `doc`'s operations (API name `t`)."""
    path = tmp_path / "catalog.json"
    write_catalog(compile_document(upstream, tmp_path, doc, **entry), path)
    settings = ChildSettings(identity=BoundIdentity(user_id="alice"), apis_catalog=path)
    async with Client(build_server(settings)) as client:
        yield client


def text_of(result: Any) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


async def echoed(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """What the upstream's echo route received for this tool call (the call must succeed)."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    body: dict[str, Any] = json.loads(text_of(result))["body"]
    return body
