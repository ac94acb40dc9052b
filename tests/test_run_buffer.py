"""The two run buffers, called directly: replay then follow, several readers, a finished run is not
offered, a run too long to keep ends its readers with `abort`, and (Redis) a run whose instance died
ends its readers with `abort` once its lease is gone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import pytest

from chatgate.streaming.run_buffer import RunBuffer
from chatgate.streaming.run_buffer_memory import InProcessRunBuffer
from chatgate.streaming.run_buffer_redis import RedisRunBuffer, _pointer
from support.redis import require_redis

START, DELTA, FINISH = {"type": "start"}, {"type": "text-delta", "id": "t", "delta": "hi"}, {"type": "finish"}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def buffer(request: pytest.FixtureRequest) -> AsyncIterator[RunBuffer]:
    made: RunBuffer
    if request.param == "redis":
        made = RedisRunBuffer.from_url(require_redis(), run_ttl_seconds=60, max_chunks=5)
    else:
        made = InProcessRunBuffer(max_chunks=5)
    yield made
    await made.aclose()


def key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def read_all(buffer: RunBuffer, run: str) -> list[dict[str, object]]:
    chunks = await buffer.follow(run)
    assert chunks is not None
    return [chunk async for chunk in chunks]


async def test_readers_follow_to_the_end_and_a_finished_run_is_not_offered(buffer: RunBuffer) -> None:
    run = key()
    publisher = await buffer.start(run)
    await publisher.publish(START)
    await publisher.publish(DELTA)
    results: list[list[dict[str, object]]] = []
    readers = [await buffer.follow(run), await buffer.follow(run)]

    async def read(chunks: object) -> None:
        assert chunks is not None
        results.append([chunk async for chunk in chunks])  # type: ignore[attr-defined]

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(publisher.pump)
            async with anyio.create_task_group() as reading:
                for chunks in readers:
                    reading.start_soon(read, chunks)
                await publisher.publish(DELTA)
                await publisher.publish(FINISH)
            group.cancel_scope.cancel()  # both readers reached the end
    await publisher.finish()
    assert results == [[START, DELTA, DELTA, FINISH]] * 2
    assert await buffer.follow(run) is None  # finished: nothing being answered


async def test_a_run_too_long_to_keep_ends_its_readers_with_abort(buffer: RunBuffer) -> None:
    run = key()
    publisher = await buffer.start(run)
    for chunk in [START, *[DELTA] * 10]:
        await publisher.publish(chunk)
    reading = await buffer.follow(run)
    await publisher.finish()
    if reading is not None:  # memory: the cap already ended it for new readers
        assert [chunk async for chunk in reading][-1] == {"type": "abort"}
    assert await buffer.follow(run) is None


@pytest.mark.redis
async def test_a_run_whose_instance_died_ends_its_redis_readers_with_abort() -> None:
    buffer = RedisRunBuffer.from_url(require_redis(), run_ttl_seconds=60)
    run = key()
    try:
        publisher = await buffer.start(run)
        chunks = await buffer.follow(run)
        assert chunks is not None
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(publisher.pump)
                await publisher.publish(START)
                assert await anext(chunks) == START
                group.cancel_scope.cancel()  # the instance is gone: no more chunks, no renewals
            await buffer.client.delete(_pointer(run))  # what the lease's expiry does then
            assert [chunk async for chunk in chunks] == [{"type": "abort"}]
    finally:
        await buffer.aclose()
