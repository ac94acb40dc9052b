"""The concurrency gate: free slots are taken at once, a full gate waits briefly, then refuses."""

from __future__ import annotations

import asyncio

import pytest

from chatgate.admission import Admission
from chatgate.errors import SaturatedError


async def test_zero_wait_still_admits_while_slots_are_free() -> None:
    gate = Admission(2, 0.0)
    async with gate.slot(), gate.slot():
        assert gate.in_use == 2
        with pytest.raises(SaturatedError):
            async with gate.slot():
                pass
    assert gate.in_use == 0


async def test_a_waiting_request_gets_the_slot_when_it_frees() -> None:
    gate = Admission(1, 2.0)
    released = asyncio.Event()

    async def holder() -> None:
        async with gate.slot():
            await released.wait()

    task = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(_enter(gate))
    await asyncio.sleep(0.05)  # not a bound: the waiter cannot be admitted while the slot is held
    assert not waiter.done()
    released.set()
    await asyncio.wait_for(waiter, timeout=30)
    await task


async def test_a_full_gate_refuses_after_the_wait_with_retry_after() -> None:
    gate = Admission(1, 0.05)
    async with gate.slot():
        with pytest.raises(SaturatedError) as refused:
            await _enter(gate)
    assert refused.value.headers["Retry-After"] == "1"


async def _enter(gate: Admission) -> None:
    async with gate.slot():
        pass
