"""OpenAPI documents → tool specs: names, schemas, annotations, allowlists, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from apis.upstream import Upstream, api_config, build_upstream
from chatgate.http_apis.catalog import ApiCatalog
from chatgate.http_apis.config import load_api_configs
from chatgate.http_apis.openapi import build_operations
from chatgate.http_apis.openapi_documents import compile_catalog, load_document
from chatgate.tool_config import ToolConfigError
from support.servers import free_port


def _doc() -> dict[str, Any]:
    app, _ = build_upstream()
    mounted = app.routes[-1].app  # type: ignore[attr-defined]
    document: dict[str, Any] = mounted.openapi()
    return document


def _by_name(upstream: Upstream, **fields: Any) -> dict[str, Any]:
    operations = build_operations(api_config(upstream, **fields), _doc())
    return {op.tool_name: op for op in operations}


def test_every_operation_becomes_a_named_tool(upstream: Upstream) -> None:
    tools = _by_name(upstream)
    assert {"api_shop_getItem", "api_shop_listItems", "api_shop_createItem", "api_shop_deleteItem"} <= set(
        tools
    )
    assert all(name.startswith("api_shop_") and len(name) <= 64 for name in tools)


def test_schema_has_path_query_and_header_parameters(upstream: Upstream) -> None:
    op = _by_name(upstream)["api_shop_getItem"]
    schema = op.input_schema
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"item_id", "q", "x-trace"}
    assert schema["required"] == ["item_id"]
    assert schema["properties"]["q"]["description"] == "Filter text."
    assert {(p.arg, p.location) for p in op.parameters} == {
        ("item_id", "path"),
        ("q", "query"),
        ("x-trace", "header"),
    }
    assert op.description.startswith("Get one item.")
    assert "GET /items/{item_id}" in op.description


def test_json_body_schema_is_self_contained(upstream: Upstream) -> None:
    op = _by_name(upstream)["api_shop_createItem"]
    schema = op.input_schema
    assert op.body_arg == "body"
    assert schema["required"] == ["body"]
    body = schema["properties"]["body"]
    # Plain models are inlined (several OpenAI-compatible servers reject $ref) ...
    assert {"name", "price", "notes", "parent"} <= set(body["properties"])
    assert "$ref" not in json.dumps(body["properties"]["notes"])
    # ... and only the recursive one stays a reference, defined under $defs.
    assert [name for name in schema["$defs"] if name.startswith("Item")] == list(schema["$defs"])
    text = json.dumps(schema)
    assert "#/components" not in text
    for ref in re.findall(r'"\$ref": "#/\$defs/([^"]+)"', text):
        assert ref in schema["$defs"]
    Draft202012Validator.check_schema(schema)
    item = {"name": "a", "price": 1, "notes": [{"text": "n"}], "parent": {"name": "b", "price": 2}}
    assert not list(Draft202012Validator(schema).iter_errors({"body": item}))
    assert list(Draft202012Validator(schema).iter_errors({"body": {**item, "parent": {"name": "c"}}}))


def test_annotations_follow_the_method(upstream: Upstream) -> None:
    tools = _by_name(upstream)
    get, create, delete, put = (
        tools["api_shop_getItem"],
        tools["api_shop_createItem"],
        tools["api_shop_deleteItem"],
        tools["api_shop_replaceItem"],
    )
    assert (get.read_only, get.destructive, get.idempotent) == (True, False, True)
    assert (create.read_only, create.destructive, create.idempotent) == (False, False, False)
    assert (delete.read_only, delete.destructive) == (False, True)
    assert (put.read_only, put.destructive, put.idempotent) == (False, True, True)


def test_allowlist_keeps_only_named_operations(upstream: Upstream) -> None:
    tools = _by_name(upstream, operations=["getItem", "listItems"])
    assert set(tools) == {"api_shop_getItem", "api_shop_listItems"}


def test_allowlist_naming_a_missing_operation_fails_at_start_up(upstream: Upstream) -> None:
    with pytest.raises(ToolConfigError, match="operations lists 'nope', not in the document"):
        build_operations(api_config(upstream, operations=["getItem", "nope"]), _doc())


def test_document_loads_from_url_and_from_yaml_file(upstream: Upstream, tmp_path: Path) -> None:
    fetched = load_document(upstream.openapi_url)
    assert fetched["paths"].keys() == _doc()["paths"].keys()
    yaml_file = tmp_path / "shop.yaml"
    yaml_file.write_text(yaml.safe_dump(fetched), encoding="utf-8")
    assert load_document(str(yaml_file)) == fetched


def test_not_openapi_is_refused(upstream: Upstream) -> None:
    with pytest.raises(
        ToolConfigError, match=r"openapi = .* is not a valid OpenAPI 3\.1\.0 document \(info: "
    ):
        build_operations(api_config(upstream), {"openapi": "3.1.0", "paths": {"/x": {"get": 5}}})


def test_cookie_and_non_json_operations_are_skipped_unless_allowlisted(upstream: Upstream) -> None:
    document = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {
                "get": {
                    "operationId": "needsCookie",
                    "parameters": [
                        {"name": "sid", "in": "cookie", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            },
            "/b": {
                "post": {
                    "operationId": "upload",
                    "requestBody": {"required": True, "content": {"application/octet-stream": {}}},
                    "responses": {"200": {"description": "ok"}},
                }
            },
            "/c/{id}": {
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "get": {"operationId": "fine", "responses": {"200": {"description": "ok"}}},
            },
        },
        "components": {
            "parameters": {
                "Id": {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
            }
        },
    }
    names = [op.operation_id for op in build_operations(api_config(upstream), document)]
    assert names == ["fine"]
    with pytest.raises(ToolConfigError, match="operations lists 'needsCookie', which cannot be exposed"):
        build_operations(api_config(upstream, operations=["needsCookie"]), document)


def test_config_errors_name_the_entry(tmp_path: Path) -> None:
    with pytest.raises(ToolConfigError, match="crm: auth"):
        load_api_configs(
            {"apis": [{"name": "crm", "base_url": "https://x.test", "openapi": "a.json", "auth": "magic"}]}
        )
    with pytest.raises(ToolConfigError, match="secret_env"):
        load_api_configs(
            {"apis": [{"name": "crm", "base_url": "https://x.test", "openapi": "a", "auth": "service"}]}
        )
    with pytest.raises(ToolConfigError, match="base_url"):
        load_api_configs({"apis": [{"name": "crm", "base_url": "file:///etc/passwd", "openapi": "a"}]})
    with pytest.raises(ToolConfigError, match="unique"):
        load_api_configs({"apis": [{"name": "a", "base_url": "https://x.test", "openapi": "a"}] * 2})
    with pytest.raises(ToolConfigError, match="user_id_header"):
        load_api_configs(
            {"apis": [{"name": "a", "base_url": "https://x.test", "openapi": "a", "user_id_header": "Host"}]}
        )


def test_catalog_round_trips_through_json(upstream: Upstream, tmp_path: Path) -> None:
    spec = tmp_path / "shop.json"
    spec.write_text(json.dumps(_doc()), encoding="utf-8")
    config = {
        "apis": [
            {"name": "shop", "base_url": upstream.base_url, "openapi": "shop.json", "operations": ["getItem"]}
        ]
    }
    catalog = compile_catalog(config, base_dir=tmp_path)
    again = ApiCatalog.from_json(json.loads(json.dumps(catalog.to_json())))
    assert again == catalog
    assert [op.tool_name for op in again.apis[0].operations] == ["api_shop_getItem"]


def test_headers_the_gateway_sets_are_never_arguments(upstream: Upstream) -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/me": {
                "get": {
                    "operationId": "me",
                    "parameters": [
                        {"name": name, "in": "header", "schema": {"type": "string"}}
                        for name in ("X-User-Id", "x-api-key", "Authorization", "Host", "X-Ok")
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    api = api_config(
        upstream, auth="service", secret_env="S", auth_header="X-Api-Key", user_id_header="X-User-Id"
    )
    (operation,) = build_operations(api, document)
    assert list(operation.input_schema["properties"]) == ["X-Ok"]


def test_an_unreachable_document_leaves_only_that_api_out(upstream: Upstream) -> None:
    dead = f"http://127.0.0.1:{free_port()}/openapi.json"
    config = {
        "apis": [
            {"name": "down", "base_url": upstream.base_url, "openapi": dead, "timeout_seconds": 1},
            {
                "name": "up",
                "base_url": upstream.base_url,
                "openapi": upstream.openapi_url,
                "operations": ["getItem"],
            },
        ]
    }
    catalog = compile_catalog(config)
    assert [api.config.name for api in catalog.apis] == ["up"]
