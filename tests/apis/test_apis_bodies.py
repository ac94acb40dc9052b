"""Request bodies: form and multipart text bodies are sent; what cannot be sent is not exposed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from apis.small_api import compile_document, document, echo_tools, echoed, operation, text_of
from apis.upstream import Recorder, Upstream
from chatgate.tool_config import ToolConfigError

PET = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "owner": {"type": "object", "properties": {"first": {"type": "string"}, "last": {"type": "string"}}},
    },
}


def _body(media_type: str, schema: dict[str, Any], **media: Any) -> dict[str, Any]:
    return {"content": {media_type: {"schema": schema, **media}}}


async def test_a_form_urlencoded_body_is_sent(upstream: Upstream, tmp_path: Path, hits: Recorder) -> None:
    """The field report: an operation whose only body is a form was exposed but always sent nothing."""
    doc = document(
        {
            "/echo/pets": {
                "post": operation("addPet", requestBody=_body("application/x-www-form-urlencoded", PET))
            }
        }
    )
    arguments = {"body": {"name": "Rex & Co", "tags": ["a", "b"], "owner": {"first": "Al", "last": "B"}}}
    async with echo_tools(upstream, tmp_path, doc) as client:
        got = await echoed(client, "api_t_addPet", arguments)
    assert got["headers"]["content-type"] == "application/x-www-form-urlencoded"
    # Defaults: form style, exploded (an object's properties become fields of their own).
    assert got["body"] == "name=Rex%20%26%20Co&tags=a&tags=b&first=Al&last=B"


async def test_form_fields_follow_their_encoding_object(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    encoding = {
        "tags": {"style": "pipeDelimited", "explode": False},
        "owner": {"style": "deepObject", "explode": True},
        "name": {"allowReserved": True},
    }
    form = _body("application/x-www-form-urlencoded", PET, encoding=encoding)
    doc = document({"/echo/pets": {"post": operation("addPet", requestBody=form)}})
    arguments = {"body": {"name": "a/b:c", "tags": ["a", "b"], "owner": {"first": "Al"}}}
    async with echo_tools(upstream, tmp_path, doc) as client:
        got = await echoed(client, "api_t_addPet", arguments)
    assert got["body"] == "name=a/b:c&tags=a%7Cb&owner%5Bfirst%5D=Al"


async def test_a_form_field_with_only_a_content_type_is_sent_as_json(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    form = _body(
        "application/x-www-form-urlencoded", PET, encoding={"owner": {"contentType": "application/json"}}
    )
    doc = document({"/echo/pets": {"post": operation("addPet", requestBody=form)}})
    async with echo_tools(upstream, tmp_path, doc) as client:
        got = await echoed(client, "api_t_addPet", {"body": {"name": "R", "owner": {"first": "Al"}}})
    assert got["body"] == "name=R&owner=%7B%22first%22%3A%22Al%22%7D"


async def test_multipart_text_fields_are_sent_as_parts(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    schema = {
        **PET,
        "properties": {**PET["properties"], "photo": {"type": "string", "format": "binary"}},
    }
    doc = document(
        {"/echo/pets": {"post": operation("addPet", requestBody=_body("multipart/form-data", schema))}}
    )
    async with echo_tools(upstream, tmp_path, doc) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        got = await echoed(
            client, "api_t_addPet", {"body": {"name": "Rex", "tags": ["a", "b"], "owner": {"first": "A"}}}
        )
    # The optional file field is left out of what the model can send.
    assert "photo" not in tools["api_t_addPet"].input_schema["properties"]["body"]["properties"]
    media, _, boundary = got["headers"]["content-type"].partition("; boundary=")
    assert media == "multipart/form-data"
    parts = _parts(got["body"], boundary)
    assert parts == [
        ("name", None, "Rex"),
        ("tags", None, "a"),
        ("tags", None, "b"),
        ("owner", "application/json", json.dumps({"first": "A"}, separators=(",", ":"))),
    ]


def _parts(body: str, boundary: str) -> list[tuple[str, str | None, str]]:
    parts = []
    for chunk in body.split(f"--{boundary}")[1:-1]:
        head, _, content = chunk.strip("\r\n").partition("\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.split("\r\n"))
        name = headers["Content-Disposition"].split('name="', 1)[1].rstrip('"')
        parts.append((name, headers.get("Content-Type"), content))
    return parts


def test_bodies_that_cannot_be_sent_are_not_exposed_and_say_so(
    upstream: Upstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    needs_file = {
        "type": "object",
        "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}},
    }
    doc = document(
        {
            "/echo/raw": {"post": operation("uploadRaw", requestBody=_body("application/octet-stream", {}))},
            "/echo/file": {
                "post": operation("uploadFile", requestBody=_body("multipart/form-data", needs_file))
            },
            "/echo/fine": {"post": operation("fine", requestBody=_body("application/json", PET))},
        }
    )
    with caplog.at_level(logging.WARNING, logger="chatgate.http_apis"):
        catalog = compile_document(upstream, tmp_path, doc)
    assert [op.operation_id for op in catalog.apis[0].operations] == ["fine"]
    assert (
        "skipping operation uploadRaw: its request body (application/octet-stream) cannot be sent"
        in caplog.text
    )
    assert "skipping operation uploadFile: its body needs file content (file)" in caplog.text
    with pytest.raises(ToolConfigError, match=r"operations lists 'uploadRaw', which cannot be exposed"):
        compile_document(upstream, tmp_path, doc, operations=["uploadRaw"])


def test_an_optional_body_that_cannot_be_sent_is_not_exposed_either(
    upstream: Upstream, tmp_path: Path
) -> None:
    # An optional body that cannot be sent would make every call an empty request.
    body = {"required": False, "content": {"application/xml": {"schema": PET}}}
    doc = document({"/echo/x": {"post": operation("xml", requestBody=body)}})
    assert compile_document(upstream, tmp_path, doc).apis[0].operations == ()


async def test_the_model_sees_the_form_fields_as_the_body_argument(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    doc = document(
        {
            "/echo/pets": {
                "post": operation("addPet", requestBody=_body("application/x-www-form-urlencoded", PET))
            }
        }
    )
    async with echo_tools(upstream, tmp_path, doc) as client:
        tool = next(tool for tool in (await client.list_tools()).tools if tool.name == "api_t_addPet")
        missing = await client.call_tool("api_t_addPet", {"body": {"tags": ["x"]}})
    assert tool.input_schema["properties"]["body"]["properties"].keys() == {"name", "tags", "owner"}
    assert missing.is_error and "'name' is a required property" in text_of(missing)
    assert hits.hits == []
