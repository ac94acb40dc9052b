"""Message ids of threads on both backends, as the application role (RLS applies on PostgreSQL)."""

from __future__ import annotations

import datetime
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.conversations.history import ConversationSession, prepare_engine
from chatgate.conversations.message_index import MessageIndex, TurnIds
from chatgate.conversations.models import ConversationRun
from chatgate.conversations.store import ConversationStore
from chatgate.storage.engine import owner_transaction
from chatgate.storage.errors import RowNotFoundError
from chatgate.storage.identity import load_signer
from chatgate.storage.models import utc_now

STALE = datetime.timedelta(minutes=5)


async def _turn(
    engine: AsyncEngine, owner: str, cid: str, ids: TurnIds, *, failed: tuple[str, ...] = ()
) -> None:
    index = MessageIndex(engine)
    since = await index.mark(owner, cid)
    await ConversationSession(cid, engine, history_limit=None, owner=owner).add_items(
        [
            {"role": "user", "content": "hi"},
            {"type": "function_call", "call_id": f"c-{ids.user}", "name": "whoami", "arguments": "{}"},
            {"type": "function_call_output", "call_id": f"c-{ids.user}", "output": "boom"},
            {"role": "assistant", "content": "done"},
        ]
    )
    await index.record(
        owner, cid, ids, since=since, started_at=utc_now(), interrupted=False, failed_calls=failed
    )


async def test_turns_are_split_and_marked_and_deleted_with_the_conversation(
    engine: AsyncEngine, alice: str
) -> None:
    prepare_engine(engine)
    store, cid = ConversationStore(engine, stale_after=STALE), uuid.uuid4().hex
    await store.claim(alice, cid, "req", "hi")
    await _turn(engine, alice, cid, TurnIds(user="u1", assistant="a1"), failed=("c-u1", "not-in-this-turn"))
    await _turn(engine, alice, cid, TurnIds(user="u2", assistant="a2"))
    messages = await MessageIndex(engine).thread(alice, cid)
    assert [(m.id, m.role, len(m.items)) for m in messages] == [
        ("u1", "user", 1),
        ("a1", "assistant", 3),
        ("u2", "user", 1),
        ("a2", "assistant", 3),
    ]
    assert messages[1].failed_calls == {"c-u1"} and messages[3].failed_calls == frozenset()
    assert messages[1].first_item < messages[2].first_item
    run = ConversationRun(conversation_id=cid, owner=alice, request_id="req", outcome="completed")
    await store.finish(alice, cid, "req", run)
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
    await ConversationStore(engine, stale_after=STALE).claim(alice, cid, "req", "private")
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
