"""The conversation store on both backends, as the application role (RLS applies on PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.conversations.claims import Claimed
from chatgate.conversations.history import ConversationSession, prepare_engine
from chatgate.conversations.models import ConversationRun
from chatgate.conversations.store import ConversationBusyError, ConversationStore, title_from
from chatgate.storage.engine import create_engine, owner_transaction
from chatgate.storage.errors import RowNotFoundError

STALE = datetime.timedelta(minutes=5)


def run_record(conversation_id: str, owner: str, outcome: str = "completed") -> ConversationRun:
    return ConversationRun(
        conversation_id=conversation_id,
        owner=owner,
        request_id="r",
        outcome=outcome,
        launch_ms=1.0,
        model_ms=2.0,
        tools_ms=3.0,
        teardown_ms=4.0,
        requests=1,
        input_tokens=5,
        output_tokens=6,
        total_tokens=11,
    )


async def test_claim_create_busy_release_and_runs(engine: AsyncEngine, alice: str) -> None:
    store = ConversationStore(engine, stale_after=STALE)
    cid = uuid.uuid4().hex
    assert (await store.claim(alice, cid, "req-1", "  Plan the   Berlin trip  ")).created is True
    with pytest.raises(ConversationBusyError):
        await store.claim(alice, cid, "req-2", "again")
    await store.finish(alice, cid, "req-1", run_record(cid, alice))
    assert (await store.claim(alice, cid, "req-2", "again")).created is False
    await store.finish(alice, cid, "req-2", run_record(cid, alice, "interrupted"))
    conversation, runs = await store.get(alice, cid)
    assert conversation["title"] == "Plan the Berlin trip" and conversation["running"] is False
    assert [run["outcome"] for run in runs] == ["completed", "interrupted"]
    assert runs[0]["timings_ms"] == {"launch": 1.0, "model": 2.0, "tools": 3.0, "teardown": 4.0}


async def test_another_owner_cannot_claim_read_or_delete(engine: AsyncEngine, alice: str, bob: str) -> None:
    store = ConversationStore(engine, stale_after=STALE)
    cid = uuid.uuid4().hex
    await store.claim(alice, cid, "req", "mine")
    await store.finish(alice, cid, "req", run_record(cid, alice))
    with pytest.raises(RowNotFoundError):
        await store.claim(bob, cid, "req-b", "theirs?")
    with pytest.raises(RowNotFoundError):
        await store.get(bob, cid)
    with pytest.raises(RowNotFoundError):
        await store.delete(bob, cid)
    items, total = await store.page(bob, limit=10, offset=0)
    assert total == 0 and items == []
    assert (await store.get(alice, cid))[0]["id"] == cid


async def test_stale_claims_stop_blocking(engine: AsyncEngine, alice: str) -> None:
    store = ConversationStore(engine, stale_after=datetime.timedelta(seconds=0))
    cid = uuid.uuid4().hex
    await store.claim(alice, cid, "crashed", "a process died mid-run")
    assert (await store.claim(alice, cid, "next", "later")).created is False


async def test_delete_removes_sdk_history(engine: AsyncEngine, alice: str) -> None:
    prepare_engine(engine)
    store = ConversationStore(engine, stale_after=STALE)
    cid = uuid.uuid4().hex
    await store.claim(alice, cid, "req", "hello")
    session = ConversationSession(cid, engine, history_limit=None, owner=alice)
    await session.add_items([{"role": "user", "content": "hello"}])
    await store.finish(alice, cid, "req", run_record(cid, alice))
    assert len(await session.get_items()) == 1
    await store.delete(alice, cid)
    assert await ConversationSession(cid, engine, history_limit=None, owner=alice).get_items() == []


async def test_history_drops_unpaired_tool_items(engine: AsyncEngine, alice: str) -> None:
    prepare_engine(engine)
    cid = uuid.uuid4().hex
    await ConversationStore(engine, stale_after=STALE).claim(alice, cid, "req", "hi")
    session = ConversationSession(cid, engine, history_limit=None, owner=alice)
    await session.add_items(
        [
            {"role": "user", "content": "hi"},
            {"type": "function_call", "call_id": "done", "name": "whoami", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "done", "output": "{}"},
            {"type": "function_call", "call_id": "cut-off", "name": "whoami", "arguments": "{}"},
        ]
    )
    items = await session.get_items()
    assert [item.get("call_id") for item in items] == [None, "done", "done"]  # type: ignore[union-attr]


async def test_each_chats_session_reuses_compiled_statements(engine: AsyncEngine, alice: str) -> None:
    """Every chat builds its own session; its statements must be found in SQLAlchemy's compiled cache,
    not compiled again for each chat (they were while each session built its own Table objects)."""
    prepare_engine(engine)
    store = ConversationStore(engine, stale_after=STALE)

    async def one_chat() -> None:
        cid = uuid.uuid4().hex
        await store.claim(alice, cid, "req", "hi", new=True)
        session = ConversationSession(cid, engine, history_limit=10, owner=alice)
        await session.add_items([{"role": "user", "content": "hi"}])
        assert [item.get("content") for item in await session.get_items()] == ["hi"]  # type: ignore[union-attr]

    await one_chat()
    cache = engine.sync_engine._compiled_cache
    assert cache is not None
    compiled = len(cache)
    await one_chat()
    await one_chat()
    assert len(cache) == compiled


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_rls_hides_conversations_of_other_users(
    engine: AsyncEngine, database_url: str, alice: str, bob: str
) -> None:
    """Raw SQL as the application role, without any owner filter: RLS alone keeps alice's rows away."""
    store = ConversationStore(engine, stale_after=STALE)
    cid = uuid.uuid4().hex
    await store.claim(alice, cid, "req", "private")
    async with owner_transaction(engine, bob) as connection:
        visible = await connection.scalar(
            sa.text("SELECT count(*) FROM conversations WHERE id = :id"), {"id": cid}
        )
    assert visible == 0
    raw = create_engine(database_url)
    try:
        async with raw.connect() as connection:  # no app.user_id at all
            assert await connection.scalar(sa.text("SELECT count(*) FROM conversations")) == 0
    finally:
        await raw.dispose()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_history_is_readable_only_by_its_conversations_owner(
    engine: AsyncEngine, database_url: str, alice: str, bob: str
) -> None:
    """agent_sessions and agent_messages sit behind the conversations policy: even the service's own
    role reads one user's history at a time, and `app.user_id` by hand opens nothing."""
    prepare_engine(engine)
    cid = uuid.uuid4().hex
    await ConversationStore(engine, stale_after=STALE).claim(alice, cid, "req", "private")
    await ConversationSession(cid, engine, history_limit=None, owner=alice).add_items(
        [{"role": "user", "content": "alice's secret"}]
    )
    assert await ConversationSession(cid, engine, history_limit=None, owner=bob).get_items() == []
    assert await ConversationSession(cid, engine, history_limit=None).get_items() == []  # no identity
    with pytest.raises(Exception, match="row-level security"):  # nor can bob add to alice's history
        await ConversationSession(cid, engine, history_limit=None, owner=bob).add_items(
            [{"role": "user", "content": "injected"}]
        )
    async with engine.begin() as connection:
        await connection.execute(sa.text("SELECT set_config('app.user_id', :u, true)"), {"u": alice})
        for table in ("agent_messages", "agent_sessions", "conversations"):
            assert await connection.scalar(sa.text(f"SELECT count(*) FROM {table}")) == 0  # noqa: S608
    items = await ConversationSession(cid, engine, history_limit=None, owner=alice).get_items()
    assert [item.get("content") for item in items] == ["alice's secret"]  # type: ignore[union-attr]


def test_titles_are_one_short_line() -> None:
    assert title_from("a\nb\tc") == "a b c"
    long = title_from("word " * 100)
    assert len(long) <= 80 and long.endswith("…")


async def test_stale_claims_do_not_block_delete_or_show_as_running(engine: AsyncEngine, alice: str) -> None:
    store = ConversationStore(engine, stale_after=datetime.timedelta(seconds=0))
    cid = uuid.uuid4().hex
    await store.claim(alice, cid, "crashed", "left behind by a dead process")
    items, _ = await store.page(alice, limit=10, offset=0)
    assert [item["running"] for item in items if item["id"] == cid] == [False]
    await store.delete(alice, cid)
    with pytest.raises(RowNotFoundError):
        await store.get(alice, cid)


async def test_concurrent_first_messages_are_busy_not_missing(engine: AsyncEngine, alice: str) -> None:
    """A double submit of a new conversation: one request wins, the other is told it is busy (never 404)."""
    store = ConversationStore(engine, stale_after=STALE)
    cid = uuid.uuid4().hex
    outcomes = await asyncio.gather(
        *(store.claim(alice, cid, f"req-{n}", "double submit") for n in range(4)), return_exceptions=True
    )
    created = [outcome for outcome in outcomes if isinstance(outcome, Claimed) and outcome.created]
    assert len(created) == 1
    assert all(isinstance(o, ConversationBusyError) for o in outcomes if o not in created), outcomes


async def test_api_engine_waits_patiently_for_sqlite_locks(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'patient.db'}")
    prepare_engine(engine)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(sa.text("PRAGMA busy_timeout")) == 30_000
    finally:
        await engine.dispose()
