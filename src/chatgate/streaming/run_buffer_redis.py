"""The run buffer in Redis Streams (`REDIS_URL`): a run streamed by one instance is resumable on all.

Per (user, conversation) key, under one hash tag (one Redis Cluster slot):
- `chatgate:run:{key}:current` -> the id of the run in progress: a lease the publisher renews, deleted
  when the run finishes; a run whose instance was killed stops being offered when it expires;
- `chatgate:run:{key}:<run id>` -> a stream of entries `c = <chunk JSON>` (XADD with MAXLEN as a
  bound, a TTL by EXPIRE), ending with a terminal chunk (`finish`, `error`, `abort`). A new run of
  the conversation writes a new stream, so readers of the previous one never see its chunks.

Readers replay with XRANGE, then follow with XREAD BLOCK. Blocks are shorter than the socket timeout;
each empty one checks the run is still current, so a reader of a run whose instance died ends (with
`abort`) when the run's lease expires (RUN_LEASE_SECONDS).

The publisher queues chunks and writes them in batches from `pump` (run beside the chat), so a
chat's own stream never waits on Redis. Redis down or slow: the publisher logs a warning and drops
the run's chunks (the chat itself streams on, without resume); a reader gets nothing to follow
(204), or `abort` if it was following.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import anyio
from redis.asyncio import Redis

from chatgate.redis_support import REDIS_FAILURES, ThrottledWarning, redis_client
from chatgate.streaming.run_buffer import (
    ABORT_CHUNK,
    FINISHED_LINGER_SECONDS,
    MAX_CHUNKS_PER_RUN,
    RENEW_EVERY_SECONDS,
    RUN_LEASE_SECONDS,
    TERMINAL_TYPES,
    Chunk,
)

logger = logging.getLogger(__name__)

# Below the socket timeout, or redis-py reads a long block as a dead connection.
BLOCK_MILLISECONDS = 1000
READ_BATCH = 512
_FAILURES = REDIS_FAILURES

# KEYS: the pointer. ARGV: the run id. Deletes the pointer only if it still names this run.
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _pointer(key: str) -> str:
    return f"chatgate:run:{{{key}}}:current"


def _stream(key: str, run_id: str) -> str:
    return f"chatgate:run:{{{key}}}:{run_id}"


class _Warnings:
    """An outage's warning: at most one per `WARN_EVERY_SECONDS`, so it cannot flood the log."""

    def __init__(self) -> None:
        self._throttled = ThrottledWarning(logger)

    def warn(self, what: str, exc: BaseException) -> None:
        self._throttled.warn(
            "stream resume store unavailable (%s while %s): streaming without resume",
            type(exc).__name__,
            what,
        )


class _Publisher:
    """Chunks are queued here and written by `pump` in batches (one pipeline per batch), so the
    chat's own stream never waits on Redis; `finish` writes what is left."""

    def __init__(self, buffer: RedisRunBuffer, key: str, run_id: str, *, failed: bool) -> None:
        self._buffer = buffer
        self._pointer = _pointer(key)
        self._run_id = run_id
        self._stream = _stream(key, run_id)
        self._failed = failed
        self._pending: list[Chunk] = []
        self._queued = anyio.Event()
        self._count = 0
        self._ended = False  # a terminal chunk was queued: readers stop there
        self._finished = False

    async def publish(self, chunk: Chunk) -> None:
        if self._failed or self._ended:
            return
        if self._count >= self._buffer.max_chunks:
            chunk = ABORT_CHUNK  # too long to keep: readers stop here
        self._pending.append(chunk)
        self._count += 1
        self._ended = chunk.get("type") in TERMINAL_TYPES
        self._queued.set()

    async def pump(self) -> None:
        while not self._failed:
            with anyio.move_on_after(RENEW_EVERY_SECONDS):
                await self._queued.wait()
            self._queued = anyio.Event()
            # Shielded: a batch cut off mid-write would leave readers a gap (bounded by the timeout).
            with anyio.CancelScope(shield=True):
                await self._flush(renew=True)

    async def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if not self._ended:
            await self.publish(ABORT_CHUNK)
        await self._flush(renew=False, last=True)

    async def _flush(self, *, renew: bool, last: bool = False) -> None:
        if self._failed:
            return
        batch, self._pending = self._pending, []
        try:
            pipe = self._buffer.client.pipeline(transaction=False)
            for chunk in batch:
                entry = {"c": json.dumps(chunk, separators=(",", ":"), ensure_ascii=False)}
                # MAXLEN is a bound, never reached: at most max_chunks + 1 entries are ever added.
                pipe.xadd(self._stream, entry, maxlen=self._buffer.max_chunks + 16, approximate=True)  # type: ignore[arg-type]
            if last:
                pipe.expire(self._stream, int(FINISHED_LINGER_SECONDS))
                pipe.eval(_RELEASE_SCRIPT, 1, self._pointer, self._run_id)
            else:
                pipe.expire(self._stream, self._buffer.run_ttl_seconds)
            if renew:
                pipe.expire(self._pointer, int(RUN_LEASE_SECONDS))
            await pipe.execute()
        except _FAILURES as exc:
            self._failed = True
            self._pending = []
            self._buffer.warnings.warn("publishing a run", exc)


class RedisRunBuffer:
    def __init__(
        self, client: Redis, *, run_ttl_seconds: float, max_chunks: int = MAX_CHUNKS_PER_RUN
    ) -> None:
        self.client = client
        self.run_ttl_seconds = max(1, int(run_ttl_seconds))
        self.max_chunks = max_chunks
        self.warnings = _Warnings()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisRunBuffer:
        return cls(redis_client(url), **options)

    async def start(self, key: str) -> _Publisher:
        run_id = uuid.uuid4().hex
        try:
            await self.client.set(_pointer(key), run_id, ex=int(RUN_LEASE_SECONDS))
        except _FAILURES as exc:
            self.warnings.warn("starting a run", exc)
            return _Publisher(self, key, run_id, failed=True)
        return _Publisher(self, key, run_id, failed=False)

    async def follow(self, key: str) -> AsyncGenerator[Chunk, None] | None:
        try:
            current = await self.client.get(_pointer(key))
            if current is None:
                return None
            run_id = _text(current)
            # redis-py's result types are unions of every protocol's; the shapes are XRANGE's.
            replay: Any = await self.client.xrange(_stream(key, run_id))
        except _FAILURES as exc:
            self.warnings.warn("opening a run to resume", exc)
            return None
        chunks = [_chunk(fields) for _, fields in replay]
        if any(chunk.get("type") in TERMINAL_TYPES for chunk in chunks):
            return None  # it finished just now: nothing is being answered
        last_id: bytes = replay[-1][0] if replay else b"0-0"
        return self._follow(key, run_id, chunks, last_id)

    async def _follow(
        self, key: str, run_id: str, replay: list[Chunk], last_id: bytes
    ) -> AsyncGenerator[Chunk, None]:
        for chunk in replay:
            yield chunk
        stream = _stream(key, run_id)
        while True:
            try:
                answer = await self._read(stream, last_id, block=True)
                if not answer and not await self._is_current(key, run_id):
                    # Ended (or its instance died): what it added before that, if anything, is last.
                    answer = await self._read(stream, last_id, block=False)
                    if not answer:
                        yield ABORT_CHUNK  # gone without a terminal chunk
                        return
            except _FAILURES as exc:
                self.warnings.warn("following a run", exc)
                yield ABORT_CHUNK
                return
            for entry_id, fields in answer:
                last_id = entry_id
                chunk = _chunk(fields)
                yield chunk
                if chunk.get("type") in TERMINAL_TYPES:
                    return

    async def _read(
        self, stream: str, last_id: bytes, *, block: bool
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """The entries of `stream` after `last_id`, waiting up to BLOCK_MILLISECONDS for one if `block`."""
        # redis-py's result types are unions of every protocol's; the shape is XREAD's.
        answer: Any = await self.client.xread(
            {stream: last_id}, count=READ_BATCH, block=BLOCK_MILLISECONDS if block else None
        )
        return [entry for _, entries in answer or [] for entry in entries]

    async def _is_current(self, key: str, run_id: str) -> bool:
        current = await self.client.get(_pointer(key))
        return current is not None and _text(current) == run_id

    async def aclose(self) -> None:
        await self.client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _chunk(fields: dict[bytes, bytes]) -> Chunk:
    value: Chunk = json.loads(fields[b"c"])
    return value
