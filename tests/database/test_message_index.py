"""Message ids of threads on both backends, as the application role (RLS applies on PostgreSQL)."""

from __future__ import annotations

import datetime
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.conversations.history import ConversationSession, prepare_engine
from chatgate.conversations.message_index import MessageIndex, TurnIds, TurnMarks
from chatgate.conversations.models import ConversationRun
from chatgate.conversations.store import ConversationStore
from chatgate.storage.engine import owner_transaction
from chatgate.storage.errors import RowNotFoundError
from chatgate.storage.identity import load_signer
from chatgate.storage.models import utc_now

STALE = datetime.timedelta(minutes=5)


def _run(cid: str, owner: str) -> ConversationRun:
    return ConversationRun(conversation_id=cid, owner=owner, request_id="req", outcome="completed")


async def _turn(
    engine: AsyncEngine,
    owner: str,
    cid: str,
    ids: TurnIds,
    *,
    failed: tuple[str, ...] = (),
    input_written: bool = True,
) -> None:
    """A turn the way `ChatService.run_turn` stores it: the SDK writes the input at once (unless
    cut off before), the rest is held and written by `finish` with the marks."""
    store = ConversationStore(engine, stale_after=STALE)
    await store.claim(owner, cid, "req", "hi")
    session = ConversationSession(cid, engine, history_limit=None, owner=owner, hold_writes=True)
    if input_written:
        await session.add_items([{"role": "user", "content": "hi"}])
        await session.add_items(
            [
                {"type": "function_call", "call_id": f"c-{ids.user}", "name": "whoami", "arguments": "{}"},
                {"type": "function_call_output", "call_id": f"c-{ids.user}", "output": "boom"},
                {"role": "assistant", "content": "done"},
            ]
        )
    history = await session.take_held(user_message="hi")
    marks = TurnMarks(ids, utc_now(), interrupted=not input_written, failed_calls=frozenset(failed))
    await store.finish(owner, cid, "req", _run(cid, owner), history, marks)


async def test_turns_are_split_and_marked_and_deleted_with_the_conversation(
    engine: AsyncEngine, alice: str
) -> None:
    prepare_engine(engine)
    store, cid = ConversationStore(engine, stale_after=STALE), uuid.uuid4().hex
    await _turn(engine, alice, cid, TurnIds(user="u1", assistant="a1"), failed=("c-u1", "not-in-this-turn"))
    await _turn(engine, alice, cid, TurnIds(user="u2", assistant="a2"))
    await _turn(engine, alice, cid, TurnIds(user="u3", assistant="a3"), input_written=False)
    await _turn(engine, alice, cid, TurnIds(user="u4", assistant="a4"))
    messages = await MessageIndex(engine).thread(alice, cid)
    assert [(m.id, m.role, len(m.items)) for m in messages] == [
        ("u1", "user", 1),
        ("a1", "assistant", 3),
        ("u2", "user", 1),
        ("a2", "assistant", 3),
        ("u3", "user", 1),  # cut off before the SDK wrote the input: kept, no answer
        ("u4", "user", 1),
        ("a4", "assistant", 3),
    ]
    assert messages[1].failed_calls == {"c-u1"} and messages[3].failed_calls == frozenset()
    assert messages[1].first_item < messages[2].first_item
    await store.delete(alice, cid)
    async with owner_transaction(engine, alice) as connection:
        left = await connection.scalar(
            sa.text("SELECT count(*) FROM conversation_messages WHERE conversation_id = :c"), {"c": cid}
        )
    assert left == 0


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_message_ids_sit_behind_the_conversations_policy(
    engine: AsyncEngine, database_url: str, alice: str, bob: str
) -> None:
    """Raw SQL as the service's own role: another user's identity, or none, sees no marks and cannot
    add any to alice's conversation."""
    prepare_engine(engine)
    cid = uuid.uuid4().hex
    await _turn(engine, alice, cid, TurnIds(user="u1", assistant="a1"))
    with pytest.raises(RowNotFoundError):
        await MessageIndex(engine).thread(bob, cid)
    async with owner_transaction(engine, bob) as connection:
        assert await connection.scalar(sa.text("SELECT count(*) FROM conversation_messages")) == 0
    async with engine.begin() as connection:
        await connection.execute(sa.text("SELECT set_config('app.user_id', :u, true)"), {"u": alice})
        assert await connection.scalar(sa.text("SELECT count(*) FROM conversation_messages")) == 0
    for owner in (bob, alice):  # bob's name or alice's, bob's identity reaches nothing of hers
        with pytest.raises(DBAPIError, match="row-level security"):
            async with engine.begin() as connection:
                token = (await load_signer(connection)).mint(bob, ttl_seconds=60)
                await connection.execute(
                    sa.text("SELECT set_config('chatgate.identity', :t, true)"), {"t": token}
                )
                await connection.execute(
                    sa.text(
                        "INSERT INTO conversation_messages (conversation_id, id, owner, role, first_item, "
                        "created_at, interrupted, failed_calls) "
                        "VALUES (:c, 'forged', :o, 'user', 1, now(), false, '[]')"
                    ),
                    {"c": cid, "o": owner},
                )
    assert [m.id for m in await MessageIndex(engine).thread(alice, cid)] == ["u1", "a1"]
