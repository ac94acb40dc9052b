"""Tool names: derived for operations without operationId, unique, within 64 characters; and the
configuration errors an operator gets, one line each, when the document cannot be used as it is."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from apis.small_api import compile_document, document, echo_tools, echoed, operation
from apis.upstream import Recorder, Upstream
from chatgate.http_apis.naming import name_operations
from chatgate.http_apis.openapi_documents import compile_catalog
from chatgate.tool_config import ToolConfigError

ID_PARAM = {"name": "petId", "in": "path", "required": True, "schema": {"type": "string"}}


def _names(upstream: Upstream, tmp_path: Path, doc: dict[str, Any], **entry: Any) -> list[str]:
    catalog = compile_document(upstream, tmp_path, doc, **entry)
    return [op.tool_name for op in catalog.apis[0].operations]


async def test_operations_without_operation_id_become_tools_named_by_method_and_path(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    """The field report: a document without operationIds yielded zero tools and logged nothing."""
    doc = document(
        {
            "/echo/pets": {"get": operation(), "post": operation()},
            "/echo/pets/{petId}": {"get": operation(parameters=[ID_PARAM])},
            "/": {"get": operation()},
        }
    )
    assert _names(upstream, tmp_path, doc) == [
        "api_t_get_echo_pets",
        "api_t_post_echo_pets",
        "api_t_get_echo_pets_petId",
        "api_t_get",
    ]
    async with echo_tools(upstream, tmp_path, doc) as client:
        got = await echoed(client, "api_t_get_echo_pets_petId", {"petId": "7"})
    assert got["raw_path"] == "/v1/echo/pets/7"


def test_derived_names_can_be_allowlisted(upstream: Upstream, tmp_path: Path) -> None:
    doc = document({"/echo/pets": {"get": operation(), "post": operation()}})
    assert _names(upstream, tmp_path, doc, operations=["get_echo_pets"]) == ["api_t_get_echo_pets"]


def test_derived_names_are_unique_short_and_stable() -> None:
    long_path = "/" + "/".join(f"segment{i}/{{id{i}}}" for i in range(12))
    operations: list[tuple[str, str, str | None]] = [
        ("GET", long_path, None),
        ("GET", "/a.b", None),
        ("GET", "/a_b", None),
        ("GET", "/pets", None),
        ("POST", "/x", "get_pets"),  # an operationId that is a derived name wins it
    ]
    named = name_operations("a_long_api_name_of_32_characters", operations)
    tools = [op.tool_name for op in named]
    assert all(len(tool) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", tool) for tool in tools)
    assert len(set(tools)) == len(tools)
    assert tools[0].startswith("api_a_long_api_name_of_32_characters_get_segment0")
    assert tools[1] != tools[2] and tools[3] != tools[4]
    assert tools[4] == "api_a_long_api_name_of_32_characters_get_pets"
    # Stable: the same operation gets the same name whatever else the document holds.
    again = name_operations("a_long_api_name_of_32_characters", [operations[3], operations[4], operations[0]])
    assert [op.tool_name for op in again] == [tools[3], tools[4], tools[0]]


def test_an_api_that_yields_no_tools_says_so(
    upstream: Upstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"required": True, "content": {"application/octet-stream": {}}}
    doc = document({"/echo/upload": {"post": operation("upload", requestBody=body)}})
    with caplog.at_level(logging.WARNING, logger="chatgate.http_apis"):
        assert _names(upstream, tmp_path, doc) == []
    assert "api t yields no tools" in caplog.text


def _one_line_error(
    upstream: Upstream, tmp_path: Path, doc: dict[str, Any], name: str = "t", **entry: Any
) -> str:
    with pytest.raises(ToolConfigError) as caught:
        compile_document(upstream, tmp_path, doc, name, **entry)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"[[apis]] {name}: ")
    return message


def test_a_swagger_2_document_is_a_one_line_configuration_error(upstream: Upstream, tmp_path: Path) -> None:
    doc = {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {"/pets": {"get": {}}}}
    message = _one_line_error(upstream, tmp_path, doc)
    assert re.search(r"openapi = \S+t-openapi\.json is a Swagger 2\.0 document", message)
    assert "convert it" in message and "point openapi at the result" in message


def test_an_unsupported_openapi_version_is_a_one_line_configuration_error(
    upstream: Upstream, tmp_path: Path
) -> None:
    message = _one_line_error(upstream, tmp_path, document({}, version="4.0.0"))
    assert "declares OpenAPI version '4.0.0'" in message and "3.0.x and 3.1.x" in message


def test_operation_ids_colliding_after_sanitising_are_a_one_line_configuration_error(
    upstream: Upstream, tmp_path: Path
) -> None:
    doc = document({"/echo/a": {"get": operation("get.item"), "post": operation("get item")}})
    message = _one_line_error(upstream, tmp_path, doc)
    assert "'get.item' (GET /echo/a) and 'get item' (POST /echo/a)" in message
    assert "both become the tool name api_t_get_item" in message
    assert "operations = [...]" in message
    # The fix the message names works.
    assert _names(upstream, tmp_path, doc, operations=["get.item"]) == ["api_t_get_item"]


def test_an_allowlisted_tool_name_over_64_characters_is_a_one_line_configuration_error(
    upstream: Upstream, tmp_path: Path
) -> None:
    long_id = "listEveryPetThatWasEverAdoptedFromTheShelterSinceItOpened"  # 57 characters
    doc = document({"/echo/pets": {"get": operation(long_id)}})
    message = _one_line_error(upstream, tmp_path, doc, "shelter", operations=[long_id])
    assert f"operations lists '{long_id}', whose tool name api_shelter_{long_id} is 69 characters" in message
    assert "shorten this entry's name to at most 2 characters or remove it from operations" in message
    # The fix the message names works.
    assert _names(upstream, tmp_path, doc, name="sh", operations=[long_id]) == [f"api_sh_{long_id}"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "cannot be read"), ("[1, 2]", "is not an object"), ("a: [b", "neither valid JSON nor YAML")],
)
def test_an_unusable_document_file_is_a_one_line_configuration_error(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    spec = tmp_path / "crm.yaml"
    if content is not None:
        spec.write_text(content, encoding="utf-8")
    config = {"apis": [{"name": "crm", "base_url": "https://crm.example.test", "openapi": "crm.yaml"}]}
    with pytest.raises(ToolConfigError) as caught:
        compile_catalog(config, base_dir=tmp_path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("[[apis]] crm: OpenAPI document ")
    assert reason in message and message.endswith("point openapi at another")
