"""Instance leases on both backends, as the application role: a claim blocks its conversation while its
instance renews its lease; once the lease lapses the next message takes over, the dead run is
recorded as interrupted, and the dead run can no longer write its history.

Two stores on one database stand for two instances. An instance "dies" by its lease row being dated
back (what an instance that stopped renewing looks like), so nothing here waits for a lease to run
out; `keep()` is checked to renew on its own.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.conversations.claims import Claimed
from chatgate.conversations.history import ConversationSession, prepare_engine, user_message_row
from chatgate.conversations.instance_lease import LEASES, InstanceLease
from chatgate.conversations.models import ConversationRun
from chatgate.conversations.store import ConversationBusyError, ConversationStore
from chatgate.storage.engine import service_transaction
from chatgate.storage.models import utc_now

STALE = datetime.timedelta(minutes=30)  # far beyond every test here: only leases free a claim
LEASE_SECONDS = 15.0


def instance(engine: AsyncEngine, name: str) -> tuple[InstanceLease, ConversationStore]:
    lease = InstanceLease(engine, lease_seconds=LEASE_SECONDS, instance_id=f"{name}-{uuid.uuid4().hex[:8]}")
    return lease, ConversationStore(engine, stale_after=STALE, lease=lease)


def record(conversation_id: str, owner: str, request_id: str) -> ConversationRun:
    return ConversationRun(
        conversation_id=conversation_id, owner=owner, request_id=request_id, outcome="completed"
    )


async def date_back(engine: AsyncEngine, lease: InstanceLease) -> None:
    """Make `lease` look like an instance that stopped renewing an hour ago."""
    async with service_transaction(engine) as connection:
        await connection.execute(
            LEASES.update()
            .where(LEASES.c.id == lease.id)
            .values(renewed_at=utc_now() - datetime.timedelta(hours=1))
        )


async def running(store: ConversationStore, owner: str, conversation_id: str) -> bool:
    return bool((await store.get(owner, conversation_id))[0]["running"])


async def test_a_live_instance_keeps_its_claim_however_old(engine: AsyncEngine, alice: str) -> None:
    lease_a, store_a = instance(engine, "a")
    lease_b, store_b = instance(engine, "b")
    await lease_a.renew()
    await lease_b.renew()
    cid = uuid.uuid4().hex
    await store_a.claim(alice, cid, "req-a", "hello")
    with pytest.raises(ConversationBusyError):
        await store_b.claim(alice, cid, "req-b", "me too")
    assert await running(store_b, alice, cid)
    await store_a.finish(alice, cid, "req-a", record(cid, alice, "req-a"))
    assert (await store_b.claim(alice, cid, "req-b", "now")).created is False


async def test_a_dead_instances_claim_is_taken_over_and_its_run_recorded_interrupted(
    engine: AsyncEngine, alice: str
) -> None:
    prepare_engine(engine)
    lease_a, store_a = instance(engine, "a")
    lease_b, store_b = instance(engine, "b")
    await lease_a.renew()
    await lease_b.renew()
    cid = uuid.uuid4().hex
    await store_a.claim(alice, cid, "req-a", "first")
    # What the SDK writes at once: the user's message (`ConversationSession`).
    await ConversationSession(cid, engine, history_limit=None, owner=alice).add_items(
        [{"role": "user", "content": "first"}]
    )
    await date_back(engine, lease_a)
    assert not await running(store_b, alice, cid)
    assert (await store_b.claim(alice, cid, "req-b", "second")).created is False
    assert await running(store_b, alice, cid)
    _, runs = await store_b.get(alice, cid)
    assert [(run["request_id"], run["outcome"]) for run in runs] == [("req-a", "interrupted")]
    # A third instance still finds it busy: B's lease is live.
    _, store_c = instance(engine, "c")
    with pytest.raises(ConversationBusyError):
        await store_c.claim(alice, cid, "req-c", "third")
    # The dead run, had it gone on somewhere, can no longer write into the conversation.
    await store_a.finish(alice, cid, "req-a", record(cid, alice, "req-a"), [user_message_row("late")])
    assert await running(store_b, alice, cid)
    await store_b.finish(alice, cid, "req-b", record(cid, alice, "req-b"), [user_message_row("second")])
    items = await ConversationSession(cid, engine, history_limit=None, owner=alice).get_items()
    assert [item.get("content") for item in items] == ["first", "second"]
    _, runs = await store_b.get(alice, cid)
    assert sorted((run["request_id"], run["outcome"]) for run in runs) == [
        ("req-a", "interrupted"),
        ("req-b", "completed"),
    ]


async def test_an_instance_never_takes_its_own_claims_over(engine: AsyncEngine, alice: str) -> None:
    """Its lease not renewed yet, or lapsed (the database was unreachable a while): its own runs are
    still running, so a second message on the same instance is still busy."""
    lease_a, store_a = instance(engine, "a")
    cid = uuid.uuid4().hex
    await store_a.claim(alice, cid, "req-1", "hello")
    with pytest.raises(ConversationBusyError):
        await store_a.claim(alice, cid, "req-2", "again")
    await lease_a.renew()
    await date_back(engine, lease_a)
    with pytest.raises(ConversationBusyError):
        await store_a.claim(alice, cid, "req-2", "again")
    _, store_b = instance(engine, "b")
    assert (
        await store_b.claim(alice, cid, "req-b", "elsewhere")
    ).created is False  # for the others it is dead


async def test_concurrent_takeovers_of_one_dead_claim_let_one_through(
    engine: AsyncEngine, alice: str
) -> None:
    lease_a, store_a = instance(engine, "a")
    await lease_a.renew()
    cid = uuid.uuid4().hex
    await store_a.claim(alice, cid, "req-a", "first")
    await date_back(engine, lease_a)
    takers = [instance(engine, f"t{n}") for n in range(4)]
    for lease, _ in takers:
        await lease.renew()
    outcomes = await asyncio.gather(
        *(store.claim(alice, cid, f"req-{n}", "again") for n, (_, store) in enumerate(takers)),
        return_exceptions=True,
    )
    taken = [outcome for outcome in outcomes if isinstance(outcome, Claimed) and not outcome.created]
    assert len(taken) == 1, outcomes
    assert all(isinstance(o, ConversationBusyError) for o in outcomes if o not in taken), outcomes
    _, runs = await store_a.get(alice, cid)
    assert [run["outcome"] for run in runs] == ["interrupted"]


async def test_keep_renews_and_release_frees_the_claims_at_once(engine: AsyncEngine, alice: str) -> None:
    lease_a = InstanceLease(engine, lease_seconds=1.5, instance_id=f"a-{uuid.uuid4().hex[:8]}")
    store_a = ConversationStore(engine, stale_after=STALE, lease=lease_a)
    await lease_a.try_renew()
    first = await _renewed_at(engine, lease_a)
    keeper = asyncio.create_task(lease_a.keep())
    try:
        for _ in range(600):  # a minute at most: a ceiling, not a speed
            if await _renewed_at(engine, lease_a) != first:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("keep() did not renew the lease")
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
    cid = uuid.uuid4().hex
    await store_a.claim(alice, cid, "req-a", "hello")
    _, store_b = instance(engine, "b")
    await lease_a.renew()
    with pytest.raises(ConversationBusyError):
        await store_b.claim(alice, cid, "req-b", "too soon")
    await lease_a.release()
    assert (await store_b.claim(alice, cid, "req-b", "now")).created is False


async def _renewed_at(engine: AsyncEngine, lease: InstanceLease) -> object:
    async with service_transaction(engine) as connection:
        return await connection.scalar(sa.select(LEASES.c.renewed_at).where(LEASES.c.id == lease.id))
