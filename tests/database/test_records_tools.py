"""The records tools called directly, on every backend."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import sqlalchemy as sa
from mcp.server.mcpserver.exceptions import ToolError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.mcp_server.tools import records as tools
from chatgate.storage import TableStore, create_engine, documents
from chatgate.storage.tables import builtin_tasks

SQL_LOOKING = [
    "'; DROP TABLE records; --",
    "x' OR '1'='1",
    "$1; SELECT set_config('app.user_id', 'bob', false)",
    'Robert"); DELETE FROM tasks; --',
    "\\x00 not a nul, just text",
    "ünïcødé ✓ 🙂",
]


async def _create(ctx: Any, collection: str, data: dict[str, Any]) -> dict[str, Any]:
    return await tools.records_create(ctx, collection=collection, data=data)


async def test_create_get_update_delete_round_trip(
    engine: AsyncEngine, alice: str, tool_context: Any
) -> None:
    ctx = tool_context(engine, alice)
    created = await _create(ctx, "notes", {"title": "Acme call", "tags": ["sales"], "meta": {"a": 1, "b": 2}})
    assert set(created) == {"id", "collection", "data", "created_at", "updated_at"}
    assert created["collection"] == "notes"

    fetched = await tools.records_get(ctx, id=created["id"])
    assert fetched == created

    updated = await tools.records_update(
        ctx,
        id=created["id"],
        patch={"title": "Acme call (follow-up)", "tags": None, "meta": {"b": None, "c": 3}},
    )
    assert updated["data"] == {"title": "Acme call (follow-up)", "meta": {"a": 1, "c": 3}}
    assert updated["updated_at"] >= created["updated_at"]
    assert (await tools.records_get(ctx, id=created["id"]))["data"] == updated["data"]

    assert await tools.records_delete(ctx, id=created["id"]) == {"deleted": created["id"]}
    with pytest.raises(ToolError, match="record not found"):
        await tools.records_get(ctx, id=created["id"])
    with pytest.raises(ToolError, match="record not found"):
        await tools.records_delete(ctx, id=created["id"])


async def test_collections_counts_only_own_records(
    engine: AsyncEngine, alice: str, bob: str, tool_context: Any
) -> None:
    a, b = tool_context(engine, alice), tool_context(engine, bob)
    assert await tools.records_collections(a) == {"collections": [], "has_more": False}
    for _ in range(3):
        await _create(a, "notes", {})
    await _create(a, "contacts", {"name": "Ann"})
    await _create(b, "secret_bob_things", {"x": 1})
    assert await tools.records_collections(a) == {
        "collections": [{"name": "contacts", "count": 1}, {"name": "notes", "count": 3}],
        "has_more": False,
    }
    assert await tools.records_collections(b) == {
        "collections": [{"name": "secret_bob_things", "count": 1}],
        "has_more": False,
    }


async def test_other_users_ids_are_not_found(
    engine: AsyncEngine, alice: str, bob: str, tool_context: Any
) -> None:
    a, b = tool_context(engine, alice), tool_context(engine, bob)
    secret = await _create(a, "notes", {"pin": "1234"})
    unknown = "00000000-0000-4000-8000-000000000000"
    for record_id in (secret["id"], unknown):
        for call in (
            tools.records_get(b, id=record_id),
            tools.records_update(b, id=record_id, patch={"pin": "0000"}),
            tools.records_delete(b, id=record_id),
        ):
            with pytest.raises(ToolError) as caught:
                await call
            # Identical text for "someone else's" and "nobody's": existence is not revealed.
            assert str(caught.value) == "record not found"
    assert (await tools.records_get(a, id=secret["id"]))["data"] == {"pin": "1234"}
    page = await tools.records_list(b, collection="notes")
    assert page["items"] == [] and page["total"] == 0


@pytest.mark.parametrize("text", SQL_LOOKING)
async def test_sql_looking_strings_are_stored_verbatim(
    engine: AsyncEngine, alice: str, text: str, tool_context: Any
) -> None:
    ctx = tool_context(engine, alice)
    created = await _create(ctx, "notes", {text: text, "body": text})
    assert (await tools.records_get(ctx, id=created["id"]))["data"] == {text: text, "body": text}
    page = await tools.records_list(ctx, collection="notes", where={"body": text})
    assert [item["id"] for item in page["items"]] == [created["id"]]


async def test_pagination_edges(engine: AsyncEngine, alice: str, tool_context: Any) -> None:
    ctx = tool_context(engine, alice)
    ids = [(await _create(ctx, "items", {"n": n}))["id"] for n in range(7)]

    first = await tools.records_list(ctx, collection="items", limit=3)
    assert [item["data"]["n"] for item in first["items"]] == [0, 1, 2]
    assert (first["total"], first["has_more"], first["limit"], first["offset"]) == (7, True, 3, 0)

    pages: list[str] = []
    for offset in range(0, 7, 3):
        page = await tools.records_list(ctx, collection="items", limit=3, offset=offset)
        pages += [item["id"] for item in page["items"]]
    assert pages == ids  # oldest first, no overlap, no gap

    last = await tools.records_list(ctx, collection="items", limit=3, offset=6)
    assert len(last["items"]) == 1 and last["has_more"] is False
    exact = await tools.records_list(ctx, collection="items", limit=7)
    assert len(exact["items"]) == 7 and exact["has_more"] is False
    beyond = await tools.records_list(ctx, collection="items", offset=50)
    assert beyond["items"] == [] and beyond["total"] == 7 and beyond["has_more"] is False
    default = await tools.records_list(ctx, collection="items")
    assert default["limit"] == documents.DEFAULT_LIMIT
    empty = await tools.records_list(ctx, collection="nothing_here")
    assert empty == {
        "items": [],
        "total": 0,
        "limit": documents.DEFAULT_LIMIT,
        "offset": 0,
        "has_more": False,
    }


async def test_limit_bounds(engine: AsyncEngine, alice: str, tool_context: Any) -> None:
    ctx = tool_context(engine, alice)
    for _ in range(3):
        await _create(ctx, "items", {})
    assert len((await tools.records_list(ctx, collection="items", limit=documents.MAX_LIMIT))["items"]) == 3
    for limit in (0, -1, documents.MAX_LIMIT + 1):
        with pytest.raises(ToolError, match="limit must be between"):
            await tools.records_list(ctx, collection="items", limit=limit)
    for offset in (-1, documents.MAX_OFFSET + 1):
        with pytest.raises(ToolError, match="offset must be between"):
            await tools.records_list(ctx, collection="items", offset=offset)


async def test_filters_keep_json_types_apart(engine: AsyncEngine, alice: str, tool_context: Any) -> None:
    ctx = tool_context(engine, alice)
    docs = {
        "int": {"v": 1, "kind": "a"},
        "float": {"v": 1.5, "kind": "a"},
        "str": {"v": "1", "kind": "b"},
        "true": {"v": True, "kind": "b"},
        "false": {"v": False, "kind": "a"},
        "null": {"v": None, "kind": "b"},
        "missing": {"kind": "a"},
        "nested": {"v": {"x": 1}, "kind": "a"},
    }
    ids = {name: (await _create(ctx, "typed", data))["id"] for name, data in docs.items()}

    async def matching(where: dict[str, Any]) -> set[str]:
        page = await tools.records_list(ctx, collection="typed", where=where, limit=100)
        assert page["total"] == len(page["items"])
        by_id = {value: key for key, value in ids.items()}
        return {by_id[item["id"]] for item in page["items"]}

    assert await matching({"v": 1}) == {"int"}
    assert await matching({"v": 1.5}) == {"float"}
    assert await matching({"v": "1"}) == {"str"}
    assert await matching({"v": True}) == {"true"}
    assert await matching({"v": False}) == {"false"}
    assert await matching({"v": None}) == {"null", "missing"}
    assert await matching({"kind": "a"}) == {"int", "float", "false", "missing", "nested"}
    assert await matching({"kind": "a", "v": 1}) == {"int"}
    assert await matching({"kind": "zzz"}) == set()
    assert await matching({}) == set(docs)


async def test_order_by_metadata_and_data_fields(engine: AsyncEngine, alice: str, tool_context: Any) -> None:
    ctx = tool_context(engine, alice)
    for name, rank in (("b", 2), ("a", 3), ("c", 1)):
        await _create(ctx, "people", {"name": name, "rank": rank})

    async def order(order_by: str) -> list[str]:
        page = await tools.records_list(ctx, collection="people", order_by=order_by)
        return [item["data"]["name"] for item in page["items"]]

    assert await order("created_at") == ["b", "a", "c"]
    assert await order("-created_at") == ["c", "a", "b"]
    assert await order("name") == ["a", "b", "c"]
    assert await order("-name") == ["c", "b", "a"]
    assert await order("rank") == ["c", "b", "a"]
    assert await order("-updated_at") == ["c", "a", "b"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ctx: tools.records_create(ctx, collection="", data={}), "collection must be"),
        (lambda ctx: tools.records_create(ctx, collection="1notes", data={}), "collection must be"),
        (lambda ctx: tools.records_create(ctx, collection="no tes", data={}), "collection must be"),
        (lambda ctx: tools.records_create(ctx, collection="x" * 65, data={}), "collection must be"),
        (lambda ctx: tools.records_create(ctx, collection="notes;drop", data={}), "collection must be"),
        (
            lambda ctx: tools.records_create(ctx, collection="notes", data=[1, 2]),
            "data must be a JSON object",
        ),
        (
            lambda ctx: tools.records_create(ctx, collection="notes", data="text"),
            "data must be a JSON object",
        ),
        (lambda ctx: tools.records_create(ctx, collection="notes", data=None), "data must be a JSON object"),
        (lambda ctx: tools.records_create(ctx, collection="notes", data={"a": "x\x00y"}), "NUL"),
        (lambda ctx: tools.records_create(ctx, collection="notes", data={"a\x00": 1}), "key"),
        (lambda ctx: tools.records_create(ctx, collection="notes", data={"a": float("nan")}), "not finite"),
        (lambda ctx: tools.records_create(ctx, collection="notes", data={"a": float("inf")}), "not finite"),
        (lambda ctx: tools.records_create(ctx, collection="notes", data={"a": 2**70}), "64-bit"),
        (lambda ctx: tools.records_create(ctx, collection="notes", data={"a": {1, 2}}), "not JSON"),
        (lambda ctx: tools.records_create(ctx, collection="notes", data=_deep(40)), "nested deeper"),
        (
            lambda ctx: tools.records_create(
                ctx, collection="notes", data={"a": "x" * documents.MAX_DOCUMENT_BYTES}
            ),
            "the limit is",
        ),
        (lambda ctx: tools.records_get(ctx, id="not-an-id"), "id must be"),
        (lambda ctx: tools.records_get(ctx, id=""), "id must be"),
        (lambda ctx: tools.records_get(ctx, id="1 OR 1=1"), "id must be"),
        (lambda ctx: tools.records_get(ctx, id="x" * 5000), "id must be"),
        (lambda ctx: tools.records_delete(ctx, id="42"), "id must be"),
        (lambda ctx: tools.records_update(ctx, id="nope", patch={}), "id must be"),
        (lambda ctx: tools.records_list(ctx, collection="notes", where={"bad key": 1}), "filter field"),
        (lambda ctx: tools.records_list(ctx, collection="notes", where={"a": [1]}), "must be a string"),
        (lambda ctx: tools.records_list(ctx, collection="notes", where={"a": {"b": 1}}), "must be a string"),
        (lambda ctx: tools.records_list(ctx, collection="notes", where="a=1"), "where must be an object"),
        (
            lambda ctx: tools.records_list(ctx, collection="notes", where={f"k{i}": i for i in range(20)}),
            "at most",
        ),
        (lambda ctx: tools.records_list(ctx, collection="notes", order_by="name; drop"), "order_by field"),
        (lambda ctx: tools.records_list(ctx, collection="notes", order_by="--name"), "order_by field"),
        (lambda ctx: tools.records_list(ctx, collection="bad-name"), "collection must be"),
    ],
)
async def test_invalid_input_is_a_curated_error(
    engine: AsyncEngine, alice: str, call: Any, message: str, tool_context: Any
) -> None:
    with pytest.raises(ToolError, match=message) as caught:
        await call(tool_context(engine, alice))
    assert "SELECT" not in str(caught.value) and "sqlalchemy" not in str(caught.value).lower()


def _deep(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for _ in range(levels):
        doc = {"d": doc}
    return doc


async def test_document_at_the_size_limit_is_accepted(
    engine: AsyncEngine, alice: str, tool_context: Any
) -> None:
    ctx = tool_context(engine, alice)
    overhead = len(json.dumps({"a": ""}, separators=(",", ":")))
    data = {"a": "x" * (documents.MAX_DOCUMENT_BYTES - overhead)}
    created = await _create(ctx, "big", data)
    assert (await tools.records_get(ctx, id=created["id"]))["data"] == data
    with pytest.raises(ToolError, match="the limit is"):
        await tools.records_update(ctx, id=created["id"], patch={"b": 1})


async def test_failed_update_changes_nothing(engine: AsyncEngine, alice: str, tool_context: Any) -> None:
    ctx = tool_context(engine, alice)
    created = await _create(ctx, "notes", {"a": 1})
    with pytest.raises(ToolError):
        await tools.records_update(ctx, id=created["id"], patch={"b": "x" * documents.MAX_DOCUMENT_BYTES})
    with pytest.raises(ToolError):
        await tools.records_update(ctx, id=created["id"], patch={"b": "bad\x00"})
    assert await tools.records_get(ctx, id=created["id"]) == created


async def test_concurrent_updates_do_not_lose_writes(
    engine: AsyncEngine, alice: str, tool_context: Any
) -> None:
    ctx = tool_context(engine, alice)
    created = await _create(ctx, "counters", {})
    await asyncio.gather(*(tools.records_update(ctx, id=created["id"], patch={f"k{i}": i}) for i in range(8)))
    data = (await tools.records_get(ctx, id=created["id"]))["data"]
    assert data == {f"k{i}": i for i in range(8)}


async def test_every_call_is_audited_without_contents(
    engine: AsyncEngine, admin_url: str, alice: str, tool_context: Any
) -> None:
    ctx = tool_context(engine, alice, request_id="req-audit-1")
    created = await _create(ctx, "notes", {"secret": "the launch code"})
    await tools.records_list(ctx, collection="notes")
    with pytest.raises(ToolError):
        await tools.records_get(ctx, id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(ToolError):
        await tools.records_create(ctx, collection="bad name", data={})
    await tools.records_delete(ctx, id=created["id"])

    rows = await _audit_rows(admin_url, alice)
    assert [(row["tool"], row["outcome"]) for row in rows] == [
        ("records_create", "ok"),
        ("records_list", "ok"),
        ("records_get", "not_found"),
        ("records_create", "invalid"),
        ("records_delete", "ok"),
    ]
    assert all(row["request_id"] == "req-audit-1" and row["duration_ms"] >= 0 for row in rows)
    assert "launch code" not in repr(rows)


async def _audit_rows(admin_url: str, owner: str) -> list[dict[str, Any]]:
    # Read through an admin connection: the application role may only append to the audit log.
    admin = create_engine(admin_url)
    try:
        async with admin.connect() as connection:
            result = await connection.execute(
                sa.text(
                    "SELECT tool, outcome, duration_ms, request_id FROM audit_log"
                    " WHERE owner = :o ORDER BY at"
                ),
                {"o": owner},
            )
            return [dict(row._mapping) for row in result]
    finally:
        await admin.dispose()


async def test_unreachable_database_is_a_curated_error(caplog: pytest.LogCaptureFixture) -> None:
    from chatgate.mcp_server.context import ToolResources
    from chatgate.mcp_server.settings import BoundIdentity, ChildSettings

    engine = create_engine("postgresql://nobody:secret-password@127.0.0.1:1/nowhere")
    resources = ToolResources(settings=ChildSettings(identity=BoundIdentity("alice")), database=engine)

    class Ctx:
        class request_context:  # the attribute path of mcp's Context
            lifespan_context = resources

    try:
        with pytest.raises(ToolError) as caught:
            await tools.records_list(Ctx(), collection="notes")
    finally:
        await engine.dispose()
    message = str(caught.value)
    assert message.startswith("the database could not complete the request")
    for leak in ("127.0.0.1", "secret-password", "nowhere", "Connect", "Errno"):
        assert leak not in message
    assert "secret-password" not in caplog.text


async def test_lone_surrogates_are_stored_as_replacement_characters(
    engine: AsyncEngine, alice: str, tool_context: Any
) -> None:
    """JSON can spell a lone UTF-16 surrogate; UTF-8 (SQLite, PostgreSQL) cannot store it. It is
    replaced by U+FFFD, in values and keys, on create and update, records and declared tables alike."""
    ctx = tool_context(engine, alice)
    created = await _create(ctx, "notes", {"half \ud83d": "emoji \ud83d cut", "pair": "\ud83d\ude42"})
    assert created["data"] == {"half \ufffd": "emoji \ufffd cut", "pair": "🙂"}
    updated = await tools.records_update(ctx, id=created["id"], patch={"b": "\udc00"})
    assert updated["data"]["b"] == "\ufffd"
    assert (await tools.records_get(ctx, id=created["id"]))["data"] == updated["data"]

    tasks = TableStore(engine, builtin_tasks(), alice)
    task = await tasks.create({"title": "call \ud800 back"})
    assert task["title"] == "call \ufffd back"
    changed = await tasks.update(task["id"], {"title": "\udfff"})
    assert (await tasks.get(task["id"]))["title"] == changed["title"] == "\ufffd"
