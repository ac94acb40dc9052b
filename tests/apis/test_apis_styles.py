"""Parameter serialisation styles: the specification's tables, then real calls through the tool server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apis.small_api import compile_document, document, echo_tools, echoed, operation, text_of
from apis.upstream import Recorder, Upstream
from chatgate.http_apis.styles import encode, header_value, path_value, query_pairs

PRIMITIVE = "blue"
ARRAY = ["blue", "black", "brown"]
OBJECT = {"R": 100, "G": 200, "B": 150}


# The OpenAPI 3 "Style Examples" table, with the percent-encoding of 3.1.1.
@pytest.mark.parametrize(
    ("style", "explode", "value", "expected"),
    [
        ("simple", False, PRIMITIVE, "blue"),
        ("simple", False, ARRAY, "blue,black,brown"),
        ("simple", False, OBJECT, "R,100,G,200,B,150"),
        ("simple", True, ARRAY, "blue,black,brown"),
        ("simple", True, OBJECT, "R=100,G=200,B=150"),
        ("label", False, PRIMITIVE, ".blue"),
        ("label", False, ARRAY, ".blue,black,brown"),
        ("label", False, OBJECT, ".R,100,G,200,B,150"),
        ("label", True, ARRAY, ".blue.black.brown"),
        ("label", True, OBJECT, ".R=100.G=200.B=150"),
        ("matrix", False, PRIMITIVE, ";color=blue"),
        ("matrix", False, "", ";color"),
        ("matrix", False, ARRAY, ";color=blue,black,brown"),
        ("matrix", False, OBJECT, ";color=R,100,G,200,B,150"),
        ("matrix", True, ARRAY, ";color=blue;color=black;color=brown"),
        ("matrix", True, OBJECT, ";R=100;G=200;B=150"),
    ],
)
def test_path_styles_follow_the_specification_table(
    style: str, explode: bool, value: Any, expected: str
) -> None:
    assert path_value(style, explode, "color", value) == expected


@pytest.mark.parametrize(
    ("style", "explode", "value", "expected"),
    [
        ("form", True, PRIMITIVE, ["color=blue"]),
        ("form", True, "", ["color="]),
        ("form", True, ARRAY, ["color=blue", "color=black", "color=brown"]),
        ("form", True, OBJECT, ["R=100", "G=200", "B=150"]),
        ("form", False, ARRAY, ["color=blue,black,brown"]),
        ("form", False, OBJECT, ["color=R,100,G,200,B,150"]),
        ("spaceDelimited", False, ARRAY, ["color=blue%20black%20brown"]),
        ("spaceDelimited", False, OBJECT, ["color=R%20100%20G%20200%20B%20150"]),
        ("pipeDelimited", False, ARRAY, ["color=blue%7Cblack%7Cbrown"]),
        ("pipeDelimited", False, OBJECT, ["color=R%7C100%7CG%7C200%7CB%7C150"]),
        ("pipeDelimited", True, ARRAY, ["color=blue", "color=black", "color=brown"]),
        ("deepObject", True, OBJECT, ["color%5BR%5D=100", "color%5BG%5D=200", "color%5BB%5D=150"]),
        # deepObject is often declared without `explode: true` (whose default is false): same thing.
        (
            "deepObject",
            False,
            {"a": {"b": 1}, "t": ["x", "y"]},
            ["color%5Ba%5D%5Bb%5D=1", "color%5Bt%5D%5B%5D=x", "color%5Bt%5D%5B%5D=y"],
        ),
    ],
)
def test_query_styles_follow_the_specification_table(
    style: str, explode: bool, value: Any, expected: list[str]
) -> None:
    assert query_pairs(style, explode, False, "color", value) == expected


def test_header_values_are_simple_style() -> None:
    assert header_value(False, ARRAY) == "blue,black,brown"
    assert header_value(False, OBJECT) == "R,100,G,200,B,150"
    assert header_value(True, OBJECT) == "R=100,G=200,B=150"
    assert header_value(False, True) == "true"


def test_values_are_percent_encoded_and_separators_are_not() -> None:
    # A comma inside a value must not read as a separator; reserved characters are encoded.
    assert query_pairs("form", False, False, "q", ["a,b", "c d", "é&x=1"]) == ["q=a%2Cb,c%20d,%C3%A9%26x%3D1"]
    assert path_value("simple", False, "id", "a/b?c#d") == "a%2Fb%3Fc%23d"
    assert query_pairs("form", True, False, "flag", True) == ["flag=true"]


def test_allow_reserved_keeps_reserved_characters_but_never_breaks_the_query() -> None:
    assert encode("/a/b:c,d?e@f%20g", allow_reserved=True) == "/a/b:c,d?e@f%20g"
    assert encode("a&b=c#d+e[f] 100%", allow_reserved=True) == "a%26b%3Dc%23d%2Be%5Bf%5D%20100%25"
    assert query_pairs("form", True, True, "path", "/docs/a b") == ["path=/docs/a%20b"]


def _op(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return operation("call", parameters=parameters)


def _param(name: str, where: str, schema: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "schema": schema, **fields}


OBJ = {"type": "object", "properties": {"number": {"type": "integer"}, "size": {"type": "integer"}}}
ARR = {"type": "array", "items": {"type": "string"}}


async def test_deep_object_query_reaches_the_upstream_as_brackets(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    """The field report: `page: {number: 2, size: 10}` was sent as `page=<JSON text>`."""
    doc = document(
        {"/echo/list": {"get": _op([_param("page", "query", OBJ, style="deepObject", explode=True)])}}
    )
    async with echo_tools(upstream, tmp_path, doc) as client:
        got = await echoed(client, "api_t_call", {"page": {"number": 2, "size": 10}})
    assert got["query"] == "page%5Bnumber%5D=2&page%5Bsize%5D=10"


async def test_every_query_style_reaches_the_upstream(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    doc = document(
        {
            "/echo/q": {
                "get": _op(
                    [
                        _param("ids", "query", ARR, explode=False),
                        _param("tags", "query", ARR),
                        _param("pipes", "query", ARR, style="pipeDelimited"),
                        _param("spaces", "query", ARR, style="spaceDelimited"),
                        _param("filter", "query", OBJ, style="form", explode=False),
                        _param("next", "query", {"type": "string"}, allowReserved=True),
                        _param("where", "query", {"type": "string"}),
                    ]
                )
            }
        }
    )
    arguments = {
        "ids": ["1", "2,3"],
        "tags": ["a", "b"],
        "pipes": ["x", "y"],
        "spaces": ["p q", "r"],
        "filter": {"number": 1, "size": 5},
        "next": "/v2/items?after=7",
        "where": "a&b=c",
    }
    async with echo_tools(upstream, tmp_path, doc) as client:
        got = await echoed(client, "api_t_call", arguments)
    assert got["query"].split("&") == [
        "ids=1,2%2C3",
        "tags=a",
        "tags=b",
        "pipes=x%7Cy",
        "spaces=p%20q%20r",
        "filter=number,1,size,5",
        "next=/v2/items?after%3D7",  # `=` would end the name, so it stays encoded
        "where=a%26b%3Dc",
    ]


async def test_path_styles_and_header_styles_reach_the_upstream(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    doc = document(
        {
            "/echo/{simple}/{label}/{matrix}": {
                "get": _op(
                    [
                        _param("simple", "path", ARR, required=True),
                        _param("label", "path", ARR, required=True, style="label", explode=True),
                        _param("matrix", "path", OBJ, required=True, style="matrix", explode=True),
                        _param("X-Ids", "header", ARR),
                        _param("X-Page", "header", OBJ, explode=True),
                    ]
                )
            }
        }
    )
    arguments = {
        "simple": ["a b", "c"],
        "label": ["d", "e"],
        "matrix": {"number": 3, "size": 4},
        "X-Ids": ["1", "2"],
        "X-Page": {"number": 3, "size": 4},
    }
    async with echo_tools(upstream, tmp_path, doc) as client:
        got = await echoed(client, "api_t_call", arguments)
    assert got["raw_path"] == "/v1/echo/a%20b,c/.d.e/;number=3;size=4"
    assert got["headers"]["x-ids"] == "1,2"
    assert got["headers"]["x-page"] == "number=3,size=4"


async def test_a_parameter_described_by_content_is_sent_as_json_text(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    content_param = {"name": "filter", "in": "query", "content": {"application/json": {"schema": OBJ}}}
    doc = document({"/echo/c": {"get": _op([content_param])}})
    async with echo_tools(upstream, tmp_path, doc) as client:
        got = await echoed(client, "api_t_call", {"filter": {"number": 1, "size": 2}})
    assert got["query"] == "filter=%7B%22number%22%3A1%2C%22size%22%3A2%7D"


async def test_a_header_value_that_is_not_one_printable_ascii_line_is_refused(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    doc = document({"/echo/h": {"get": _op([_param("X-Note", "header", {"type": "string"})])}})
    async with echo_tools(upstream, tmp_path, doc) as client:
        for bad in ("a\r\nX-Evil: 1", "café"):
            result = await client.call_tool("api_t_call", {"X-Note": bad})
            assert result.is_error and "printable ASCII" in text_of(result)
    assert hits.hits == []


async def test_path_styles_still_cannot_change_the_path(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    doc = document(
        {"/echo/{id}": {"get": _op([_param("id", "path", ARR, required=True, style="label", explode=True)])}}
    )
    async with echo_tools(upstream, tmp_path, doc) as client:
        for bad in (["a/b"], ["%2F"], ["."], ["x", "\\"]):
            result = await client.call_tool("api_t_call", {"id": bad})
            assert result.is_error and "refused" in text_of(result), bad
    assert hits.hits == []


def test_a_style_the_location_does_not_allow_is_not_exposed(
    upstream: Upstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    doc = document({"/echo/x": {"get": _op([_param("m", "query", ARR, style="matrix")])}})
    catalog = compile_document(upstream, tmp_path, doc)
    assert catalog.apis[0].operations == ()
    assert "query parameter m has style matrix" in caplog.text
