"""The API tools in an in-memory MCP server: catalog, validation before any request, auth modes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from apis.upstream import Recorder, Upstream
from chatgate.http_apis.catalog import write_catalog
from chatgate.http_apis.openapi_documents import compile_catalog
from chatgate.mcp_server.server import build_server
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings

SERVICE_SECRET = "svc-secret-123"


@pytest.fixture
def catalog_path(upstream: Upstream, tmp_path: Path) -> Path:
    common = {"base_url": upstream.base_url, "openapi": upstream.openapi_url, "allow_private": True}
    config = {
        "apis": [
            {
                **common,
                "name": "shop",
                "operations": ["getItem", "listItems", "createItem", "deleteItem"],
                "user_id_header": "X-User-Id",
                "retry_backoff_seconds": 0.01,
            },
            {**common, "name": "svc", "operations": ["whoami"], "auth": "service", "secret_env": "SVC"},
            {**common, "name": "mine", "operations": ["whoami", "echoError"], "auth": "user"},
            {**common, "name": "closed", "operations": ["getItem"], "allow_private": False},
        ]
    }
    path = tmp_path / "catalog.json"
    write_catalog(compile_catalog(config), path)
    return path


Session = Callable[..., Any]


@pytest.fixture
def session(catalog_path: Path) -> Session:
    @asynccontextmanager
    async def open_session(
        user: str = "alice", credentials: dict[str, str] | None = None, service: dict[str, str] | None = None
    ) -> AsyncIterator[Client]:
        settings = ChildSettings(
            identity=BoundIdentity(user_id=user),
            apis_catalog=catalog_path,
            api_service_secrets=service if service is not None else {"svc": SERVICE_SECRET},
            api_user_credentials=credentials,
        )
        async with Client(build_server(settings)) as client:
            yield client

    return open_session


def text_of(result: Any) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


async def test_catalog_lists_allowed_operations_with_schemas_and_annotations(session: Session) -> None:
    async with session() as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert {"api_shop_getItem", "api_shop_listItems", "api_shop_createItem", "api_shop_deleteItem"} <= set(
        tools
    )
    assert "api_shop_resetEverything" not in tools and "api_shop_flaky" not in tools  # not allowlisted
    get = tools["api_shop_getItem"]
    assert get.input_schema["additionalProperties"] is False
    assert get.input_schema["required"] == ["item_id"]
    assert get.annotations is not None
    assert get.annotations.read_only_hint is True and get.annotations.destructive_hint is False
    delete = tools["api_shop_deleteItem"].annotations
    assert delete is not None and delete.destructive_hint is True and delete.read_only_hint is False
    assert tools["api_shop_getItem"].description.startswith("Get one item.")


async def test_calls_reach_the_upstream_as_the_bound_user(session: Session, hits: Recorder) -> None:
    async with session("alice") as client:
        result = await client.call_tool("api_shop_getItem", {"item_id": "42", "q": "x", "x-trace": None})
    assert not result.is_error, text_of(result)
    payload = json.loads(text_of(result))
    assert payload["status"] == 200 and payload["body"]["id"] == "42"
    assert hits.hits[-1].user_id == "alice"


@pytest.mark.parametrize(
    ("name", "arguments", "fragment"),
    [
        ("api_shop_getItem", {}, "'item_id' is a required property"),
        ("api_shop_getItem", {"item_id": 5}, "not of type 'string'"),
        ("api_shop_listItems", {"limit": "many"}, "invalid limit"),
        ("api_shop_createItem", {"body": {"name": "x"}}, "'price' is a required property"),
        ("api_shop_createItem", {"body": {"name": "x", "price": "free"}}, "invalid body.price"),
        ("api_shop_getItem", {"item_id": "1", "user_id": "bob"}, "unknown argument"),
    ],
)
async def test_arguments_are_validated_before_any_request(
    session: Session, hits: Recorder, name: str, arguments: dict[str, Any], fragment: str
) -> None:
    async with session() as client:
        result = await client.call_tool(name, arguments)
    assert result.is_error
    assert fragment in text_of(result)
    assert hits.hits == []


async def test_path_escape_is_refused_as_a_tool_error(session: Session, hits: Recorder) -> None:
    async with session() as client:
        for item_id in ("../admin", "..%2Fadmin", "a%2fb"):
            result = await client.call_tool("api_shop_getItem", {"item_id": item_id})
            assert result.is_error and "refused" in text_of(result)
    assert hits.hits == []


async def test_loopback_api_without_allow_private_is_refused(session: Session, hits: Recorder) -> None:
    async with session() as client:
        result = await client.call_tool("api_closed_getItem", {"item_id": "1"})
    assert result.is_error and "allow_private" in text_of(result)
    assert hits.hits == []


async def test_service_mode_sends_the_operator_secret(session: Session, hits: Recorder) -> None:
    async with session() as client:
        result = await client.call_tool("api_svc_whoami", {})
    assert not result.is_error, text_of(result)
    assert hits.hits[-1].authorization == f"Bearer {SERVICE_SECRET}"
    assert SERVICE_SECRET not in text_of(result)
    async with session(service={}) as client:
        missing = await client.call_tool("api_svc_whoami", {})
    assert missing.is_error and "not configured its secret" in text_of(missing)


async def test_user_mode_uses_only_the_bound_users_credential(session: Session, hits: Recorder) -> None:
    async with session("alice", credentials={"mine": "alice-token"}) as client:
        result = await client.call_tool("api_mine_whoami", {})
    assert json.loads(text_of(result))["body"]["authorization"] == "Bearer [redacted]"
    async with session("bob", credentials={}) as client:
        refused = await client.call_tool("api_mine_whoami", {})
    assert refused.is_error
    assert "you have not connected the mine API" in text_of(refused)
    assert "PUT /api/credentials/mine" in text_of(refused)
    async with session("carol", credentials=None) as client:
        unavailable = await client.call_tool("api_mine_whoami", {})
    assert unavailable.is_error and "CHATGATE_ENCRYPTION_KEY" in text_of(unavailable)
    assert [hit.authorization for hit in hits.hits] == ["Bearer alice-token"]


async def test_upstream_errors_are_curated_and_never_show_the_credential(session: Session) -> None:
    async with session(credentials={"mine": "alice-token"}) as client:
        result = await client.call_tool("api_mine_echoError", {})
    assert result.is_error
    message = text_of(result)
    assert "HTTP 401" in message and "alice-token" not in message and "[redacted]" in message
