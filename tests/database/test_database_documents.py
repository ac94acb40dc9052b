"""Pure helpers: merge patch (RFC 7386 examples), URL normalization, document checks."""

from __future__ import annotations

from typing import Any

import pytest

from chatgate.storage.documents import check_document, merge_patch, parse_order, parse_uuid
from chatgate.storage.engine import DatabaseConfigError, normalize_url
from chatgate.storage.errors import InvalidInputError


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # the examples of RFC 7386, appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch(target: dict[str, Any], patch: dict[str, Any], result: dict[str, Any]) -> None:
    assert merge_patch(target, patch) == result


def test_merge_patch_does_not_mutate_its_inputs() -> None:
    target = {"a": {"b": 1}}
    merge_patch(target, {"a": {"c": 2}})
    assert target == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_urls_map_onto_async_drivers(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", ""])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(DatabaseConfigError):
        normalize_url(url)


def test_ids_and_orders() -> None:
    assert str(parse_uuid("{12345678-1234-5678-1234-567812345678}")) == "12345678-1234-5678-1234-567812345678"
    for bad in (None, 5, "", "zz", "x" * 100):
        with pytest.raises(InvalidInputError):
            parse_uuid(bad)
    assert parse_order(None, default="created_at") == ("created_at", False)
    assert parse_order("-name", default="created_at") == ("name", True)


def test_documents_keep_unicode_and_empty_objects() -> None:
    doc = {"ü": "✓", "": "", "nested": {"empty": {}, "list": []}}
    assert check_document(doc) is doc
