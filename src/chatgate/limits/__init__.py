"""Per-user chat limits: `RATE_LIMIT_CHATS_PER_MINUTE` and `MAX_CONCURRENT_CHATS_PER_USER`.

A chat takes a `Permit` before it claims its conversation and gives it back when its answer ends
(streams included). Refused: `RateLimitedError` (429) with a `Retry-After` that is true for the
per-minute limit (when the oldest chat of the last minute leaves the window) and a one-second hint
for the concurrency limit (a running chat may end at any moment).

Two implementations behind one interface: in-process (one instance) and Redis (`REDIS_URL`: shared
by every instance, atomic in one Lua script, on Redis's clock). Users are keyed by a SHA-256 of
their id: no user id is stored in Redis or kept in memory by the limiter.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Protocol

from chatgate.config import Settings
from chatgate.errors import RateLimitedError
from chatgate.telemetry import Metrics

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Permit:
    """One admitted chat. `counted` is False when it was admitted without limits (fail-open, limits off)."""

    key: str
    token: str
    counted: bool = True


class RateLimiter(Protocol):
    async def acquire(self, key: str) -> Permit:
        """Admit one chat for the user `key` (see `user_key`).

        Raises:
            RateLimitedError: a limit is reached.
            RateLimitUnavailableError: the shared store is down and RATE_LIMIT_FAIL_CLOSED is set.
        """
        ...

    async def release(self, permit: Permit) -> None:
        """The chat ended; never raises."""
        ...

    async def aclose(self) -> None: ...


def user_key(user_id: str) -> str:
    """The limiter's key for a user: a hash, so the store never holds the id itself."""
    return hashlib.sha256(user_id.encode()).hexdigest()


def per_minute_refusal(per_minute: int, retry_after_seconds: float) -> RateLimitedError:
    return RateLimitedError(
        f"At most {per_minute} chats per minute (RATE_LIMIT_CHATS_PER_MINUTE); "
        f"try again in {math.ceil(retry_after_seconds)} s.",
        limit="per_minute",
        retry_after_seconds=math.ceil(retry_after_seconds),
    )


def concurrency_refusal(concurrent: int) -> RateLimitedError:
    return RateLimitedError(
        f"At most {concurrent} chats at once per user (MAX_CONCURRENT_CHATS_PER_USER); "
        "try again when one has finished.",
        limit="concurrent",
        retry_after_seconds=1,
    )


class NoLimits:
    """Both limits off (0): every chat is admitted."""

    async def acquire(self, key: str) -> Permit:
        return Permit(key=key, token="", counted=False)

    async def release(self, permit: Permit) -> None:
        return None

    async def aclose(self) -> None:
        return None


def create_rate_limiter(settings: Settings, metrics: Metrics | None) -> RateLimiter:
    """The limiter the settings ask for: none, in-process, or Redis with `REDIS_URL`."""
    per_minute, concurrent = settings.rate_limit_chats_per_minute, settings.max_concurrent_chats_per_user
    if per_minute == 0 and concurrent == 0:
        return NoLimits()
    if settings.redis_url is not None:
        from chatgate.limits.redis_window import RedisRateLimiter

        return RedisRateLimiter.from_url(
            settings.redis_url.get_secret_value(),
            per_minute=per_minute,
            concurrent=concurrent,
            permit_ttl_seconds=settings.instance_lease_seconds,
            fail_closed=settings.rate_limit_fail_closed,
            metrics=metrics,
        )
    from chatgate.limits.in_process import InProcessRateLimiter

    return InProcessRateLimiter(per_minute=per_minute, concurrent=concurrent)
