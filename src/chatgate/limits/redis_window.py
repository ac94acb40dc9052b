"""Per-user limits shared by every instance, in Redis (`REDIS_URL`).

Per user, two sorted sets under one hash tag (so Redis Cluster keeps them on one slot):
`starts` (permit token -> start time, the sliding minute) and `running` (permit token -> expiry).
One Lua script checks and takes a permit atomically on Redis's own clock, so instances with skewed
clocks agree. A running entry is a lease: it expires `permit_ttl_seconds` after its last renewal,
and the instance holding it renews all its permits every third of that (one pipelined round trip),
so an instance killed mid-chat frees its users' slots within one lease (`INSTANCE_LEASE_SECONDS`),
as its conversation claims are (`chatgate.conversations.instance_lease`).

A Redis failure (down, timeout) admits the chat with a warning (fail open), or refuses it with 503
`rate_limit_unavailable` when `RATE_LIMIT_FAIL_CLOSED=true`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from chatgate.errors import RateLimitUnavailableError
from chatgate.limits import WINDOW_SECONDS, Permit, concurrency_refusal, per_minute_refusal
from chatgate.redis_support import ThrottledWarning, redis_client
from chatgate.telemetry import Metrics

logger = logging.getLogger(__name__)


# KEYS: starts, running. ARGV: window ms, per-minute limit, concurrent limit, token, permit ttl ms.
# Returns {verdict, retry_after_ms}: 0 admitted, 1 per-minute limit, 2 concurrency limit.
ACQUIRE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local window, per_minute, concurrent = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if per_minute > 0 and redis.call('ZCARD', KEYS[1]) >= per_minute then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, tonumber(oldest[2]) + window - now}
end
if concurrent > 0 and redis.call('ZCARD', KEYS[2]) >= concurrent then
  return {2, 1000}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[4])
redis.call('PEXPIRE', KEYS[2], ttl)
return {0, 0}
"""

# KEYS: running. ARGV: token, permit ttl ms. A permit released meanwhile is not brought back (XX).
RENEW_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 0
"""


def keys_for(key: str) -> list[str]:
    tag = f"chatgate:limits:{{{key}}}"
    return [f"{tag}:starts", f"{tag}:running"]


class RedisRateLimiter:
    def __init__(
        self,
        client: Redis,
        *,
        per_minute: int,
        concurrent: int,
        permit_ttl_seconds: float,
        fail_closed: bool,
        metrics: Metrics | None = None,
    ) -> None:
        self._client = client
        self._script = client.register_script(ACQUIRE_SCRIPT)
        self._renew_script = client.register_script(RENEW_SCRIPT)
        self._per_minute = per_minute
        self._concurrent = concurrent
        self._ttl_ms = int(permit_ttl_seconds * 1000)
        self._fail_closed = fail_closed
        self._metrics = metrics
        self._outage_warning = ThrottledWarning(logger)
        self._held: dict[str, str] = {}  # token -> user key, the permits this instance renews
        self._renewal: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisRateLimiter:
        return cls(redis_client(url), **options)

    async def acquire(self, key: str) -> Permit:
        token = uuid.uuid4().hex
        window_ms = int(WINDOW_SECONDS * 1000)
        try:
            verdict, retry_ms = await self._script(
                keys=keys_for(key),
                args=[window_ms, self._per_minute, self._concurrent, token, self._ttl_ms],
            )
        except (RedisError, OSError) as exc:
            return self._outage(key, exc)
        if int(verdict) == 1:
            raise per_minute_refusal(self._per_minute, max(1, int(retry_ms)) / 1000)
        if int(verdict) == 2:
            raise concurrency_refusal(self._concurrent)
        self._held[token] = key
        if self._renewal is None:
            self._renewal = asyncio.create_task(self._keep_renewing())
        return Permit(key=key, token=token)

    async def release(self, permit: Permit) -> None:
        if not permit.counted:
            return
        self._held.pop(permit.token, None)
        try:
            await self._client.zrem(keys_for(permit.key)[1], permit.token)
        except (RedisError, OSError) as exc:
            # The entry expires by itself after the chat deadline; until then it counts as running.
            logger.warning("rate limiter could not release a chat: %s", type(exc).__name__)

    async def renew(self) -> None:
        """Extend every permit this instance holds by one lease, on Redis's clock.

        Raises:
            RedisError, OSError: Redis failed (the permits lapse if it stays down a whole lease).
        """
        held = list(self._held.items())
        if not held:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for token, key in held:
                await self._renew_script(keys=keys_for(key)[1:], args=[token, self._ttl_ms], client=pipe)
            await pipe.execute()

    async def _keep_renewing(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                await self.renew()
            except (RedisError, OSError) as exc:
                self._outage_warning.warn(
                    "rate limiter could not renew running chats: %s", type(exc).__name__
                )

    async def aclose(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
        await self._client.aclose()

    def _outage(self, key: str, exc: BaseException) -> Permit:
        action = "fail_closed" if self._fail_closed else "fail_open"
        if self._metrics is not None:
            self._metrics.rate_limit_backend_errors.labels(action).inc()
        self._outage_warning.warn(
            "rate limiter store unavailable (%s): chats are %s",
            type(exc).__name__,
            "refused (RATE_LIMIT_FAIL_CLOSED)" if self._fail_closed else "admitted without limits",
        )
        if self._fail_closed:
            raise RateLimitUnavailableError()
        return Permit(key=key, token="", counted=False)
