"""The chunks of answers being streamed, kept so another request can replay and follow them (resume).

A streamed chat publishes every UI message chunk it sends its own client into a `RunBuffer`, under
a `run_key` of (user, conversation). `GET /api/agents/chat/{id}/stream` asks the buffer to `follow`
that key: nothing running is `None` (204); otherwise the chunks so far, then each new one as it is
published, until the run ends. Readers only read: one leaving changes nothing for the run or the
other readers. Any number of readers may follow one run.

    publisher = await buffer.start(key)     # a new run of this conversation (replaces a finished one)
    await publisher.publish(chunk)          # each chunk, in order; never waits on a shared store
    publisher.pump() runs beside the chat  # delivers published chunks, keeps the run's lease
    await publisher.finish()                # the run ended (its last chunk is finish, error or abort)

    chunks = await buffer.follow(key)       # None, or an async iterator: replay, then live, then end

Two implementations: in this process (`run_buffer_memory`, one instance) and Redis Streams
(`run_buffer_redis`, with `REDIS_URL`: readers on any instance). Publishing never raises: a buffer
that fails (Redis down) logs a warning and the chat streams on without resume.

Keys hold a SHA-256 of the user id (as the rate limiter does): the shared store never holds user ids.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol

from chatgate.config import Settings
from chatgate.limits import user_key

Chunk = dict[str, Any]

# A run publishes at most this many chunks (a text delta is one chunk, ~a token); past it, the run
# goes on for its own client but readers get an `abort` chunk: memory per run stays bounded
# (~100 bytes a chunk: ~5 MB at most).
MAX_CHUNKS_PER_RUN = 50_000
# How long a finished run's chunks stay readable for readers still catching up (Redis: its TTL).
FINISHED_LINGER_SECONDS = 60.0
# Past the chat deadline plus this, the chunks of a run nobody finished are gone (Redis: the TTL).
ORPHAN_GRACE_SECONDS = 60.0
# A run is offered to readers while its publisher's pump renews it (every RENEW_EVERY_SECONDS, however
# slow the model or a tool): a run whose instance was killed stops being offered within this.
RUN_LEASE_SECONDS = 15.0
RENEW_EVERY_SECONDS = RUN_LEASE_SECONDS / 3
ABORT_CHUNK: Chunk = {"type": "abort"}
TERMINAL_TYPES = frozenset({"finish", "error", "abort"})


def run_key(user_id: str, conversation_id: str) -> str:
    """The buffer key of one user's conversation; another user's conversation is another key."""
    return f"{user_key(user_id)}:{conversation_id}"


class RunPublisher(Protocol):
    async def publish(self, chunk: Chunk) -> None:
        """Append `chunk` for the run's readers; never raises."""
        ...

    async def pump(self) -> None:
        """Deliver what is published, and keep the run's lease (RUN_LEASE_SECONDS), until cancelled;
        run beside the chat for as long as it streams. Never raises."""
        ...

    async def finish(self) -> None:
        """The run is over: readers get the rest and stop, new readers get nothing; never raises.
        Idempotent."""
        ...


class RunBuffer(Protocol):
    async def start(self, key: str) -> RunPublisher:
        """Begin a run under `key` (the conversation was claimed, so no other run of it is live);
        never raises: on failure the publisher drops what it is given."""
        ...

    async def follow(self, key: str) -> AsyncGenerator[Chunk, None] | None:
        """The run under `key` as it was and as it goes on, or None when nothing is running there.

        The iterator ends after the run's terminal chunk (`finish`, `error`, `abort`); a run that
        disappears without one (its instance died, the buffer failed) ends with an `abort` chunk.
        """
        ...

    async def aclose(self) -> None: ...


def create_run_buffer(settings: Settings) -> RunBuffer:
    """In this process, or in Redis Streams when `REDIS_URL` is set (shared by every instance)."""
    orphan_after = settings.chat_timeout_seconds + ORPHAN_GRACE_SECONDS
    if settings.redis_url is not None:
        from chatgate.streaming.run_buffer_redis import RedisRunBuffer

        return RedisRunBuffer.from_url(settings.redis_url.get_secret_value(), run_ttl_seconds=orphan_after)
    from chatgate.streaming.run_buffer_memory import InProcessRunBuffer

    return InProcessRunBuffer()
