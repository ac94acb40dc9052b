"""Isolation as a property: random interleavings of create/list/get/update/delete by several users,
on records and on the built-in tasks table. Each user sees exactly their own rows, and another
user's id answers "not found" for get, update and delete, exactly like an id that never existed.

One engine per example, no process spawns: the whole property runs in a few seconds per backend.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.server.mcpserver.exceptions import ToolError

from chatgate.mcp_server.tools import records as record_tools
from chatgate.storage import TableStore, create_engine
from chatgate.storage.documents import merge_patch
from chatgate.storage.errors import RowNotFoundError
from chatgate.storage.tables import builtin_tasks

USERS = 3
COLLECTIONS = ("notes", "todo")
NEVER_CREATED = "00000000-0000-4000-8000-000000000000"

# Text stored as written: NUL is refused and lone surrogates become U+FFFD on purpose (tested in
# test_records_tools), so the model here would not predict them.
storable_text = st.text(
    alphabet=st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=8
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), storable_text)
documents = st.dictionaries(st.sampled_from(["a", "b", "c"]), scalars, max_size=3)
user = st.integers(0, USERS - 1)
target = st.integers(0, 50)  # index into every id created so far, whoever owns it (or a never-created id)
kind = st.sampled_from(["record", "task"])

operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), user, kind, st.sampled_from(COLLECTIONS), documents),
        st.tuples(st.just("get"), user, kind, target),
        st.tuples(st.just("update"), user, kind, target, documents),
        st.tuples(st.just("delete"), user, kind, target),
        st.tuples(st.just("list"), user, kind, st.sampled_from(COLLECTIONS)),
    ),
    min_size=1,
    max_size=25,
)


@dataclass
class Row:
    owner: str
    collection: str
    data: dict[str, Any]


@dataclass
class Model:
    """What each user should see, kept in Python alongside the database."""

    rows: dict[str, Row] = field(default_factory=dict)
    created: dict[str, list[str]] = field(default_factory=lambda: {"record": [], "task": []})

    def pick(self, kind: str, index: int) -> str:
        ids = self.created[kind]
        return ids[index % len(ids)] if ids and index < 45 else NEVER_CREATED


async def _run(database_url: str, ops: list[tuple[Any, ...]]) -> None:
    engine = create_engine(database_url)
    run = uuid.uuid4().hex[:8]
    users = [f"prop-{run}-{n}" for n in range(USERS)]
    model = Model()
    try:
        for op in ops:
            await _apply(engine, users, model, op)
        for owner in users:
            await _check_views(engine, owner, model)
    finally:
        await engine.dispose()


def _ctx(engine: Any, owner: str) -> Any:
    from chatgate.mcp_server.context import ToolResources
    from chatgate.mcp_server.settings import BoundIdentity, ChildSettings

    resources = ToolResources(settings=ChildSettings(identity=BoundIdentity(owner)), database=engine)

    class _Ctx:
        class request_context:  # mimics the attribute path of mcp's Context
            lifespan_context = resources

    return _Ctx()


async def _apply(engine: Any, users: list[str], model: Model, op: tuple[Any, ...]) -> None:
    verb, who, kind = op[0], users[op[1]], op[2]
    ctx = _ctx(engine, who)
    tasks = TableStore(engine, builtin_tasks(), who)
    if verb == "create":
        collection, data = op[3], op[4]
        if kind == "record":
            created = await record_tools.records_create(ctx, collection=collection, data=data)
            stored = data
        else:
            created = await tasks.create({"title": f"{collection}:{len(model.rows)}"})
            stored = {"title": created["title"], "done": False}
        model.rows[created["id"]] = Row(who, collection, stored)
        model.created[kind].append(created["id"])
        return
    if verb == "list":
        await _check_views(engine, who, model)
        return

    key = model.pick(kind, op[3])
    row = model.rows.get(key)
    mine = row is not None and row.owner == who
    try:
        if verb == "get":
            got = await (record_tools.records_get(ctx, id=key) if kind == "record" else tasks.get(key))
            assert mine and row is not None
            assert _visible(got, kind) == row.data
        elif verb == "update":
            patch = op[4]
            if kind == "record":
                got = await record_tools.records_update(ctx, id=key, patch=patch)
                expected = merge_patch(row.data, patch) if mine and row is not None else None
            else:
                got = await tasks.update(key, {"done": bool(patch)})
                expected = {**row.data, "done": bool(patch)} if mine and row is not None else None
            assert mine and row is not None
            row.data = expected  # type: ignore[assignment]
            assert _visible(got, kind) == expected
        elif verb == "delete":
            await (record_tools.records_delete(ctx, id=key) if kind == "record" else tasks.delete(key))
            assert mine
            del model.rows[key]
    except (ToolError, RowNotFoundError) as exc:
        # The only refusal allowed here is "not found", and only for rows that are not the caller's.
        assert not mine, f"{verb} of own {kind} failed: {exc}"
        assert str(exc) in ("record not found", "task not found"), str(exc)


def _visible(item: dict[str, Any], kind: str) -> dict[str, Any]:
    return item["data"] if kind == "record" else {"title": item["title"], "done": item["done"]}


async def _check_views(engine: Any, owner: str, model: Model) -> None:
    ctx = _ctx(engine, owner)
    mine = {key: row for key, row in model.rows.items() if row.owner == owner}
    for collection in COLLECTIONS:
        page = await record_tools.records_list(ctx, collection=collection, limit=100)
        expected = [
            key for key in model.created["record"] if key in mine and mine[key].collection == collection
        ]
        assert [item["id"] for item in page["items"]] == expected
        assert page["total"] == len(expected)
        assert all(item["data"] == mine[item["id"]].data for item in page["items"])
    counts = {c["name"]: c["count"] for c in (await record_tools.records_collections(ctx))["collections"]}
    expected_counts: dict[str, int] = {}
    for key in model.created["record"]:
        if key in mine:
            expected_counts[mine[key].collection] = expected_counts.get(mine[key].collection, 0) + 1
    assert counts == expected_counts
    tasks = await TableStore(engine, builtin_tasks(), owner).list(limit=100)
    assert [item["id"] for item in tasks["items"]] == [key for key in model.created["task"] if key in mine]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_users_only_ever_see_their_own_rows(database_url: str, ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(_run(database_url, ops))


def test_model_picks_never_created_ids_too() -> None:
    model = Model()
    assert model.pick("record", 0) == NEVER_CREATED
    model.created["record"].append("x")
    assert model.pick("record", 3) == "x" and model.pick("record", 49) == NEVER_CREATED
