"""What every user of Redis (`REDIS_URL`) in chatgate shares: how a client is made, what counts as
an outage, and how an outage is logged.

Both users (the shared rate limits in `chatgate.limits.redis_window`, resumable streams in
`chatgate.streaming.run_buffer_redis`) treat Redis as optional: an outage degrades what they add,
never the chat itself, and is logged at most once per `WARN_EVERY_SECONDS` so it cannot flood the log.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

# Redis answers in well under a millisecond on a healthy network; past this it is treated as down.
REDIS_TIMEOUT_SECONDS = 2.0
WARN_EVERY_SECONDS = 30.0
# What an unreachable, slow or failing Redis raises (socket errors can escape redis-py unwrapped).
REDIS_FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError)


def redis_client(url: str) -> Redis:
    """A client for `url` whose every connect and command gives up after `REDIS_TIMEOUT_SECONDS`."""
    return Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )


class ThrottledWarning:
    """Logs a warning through `logger` at most once per `WARN_EVERY_SECONDS` (monotonic clock)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._last: float | None = None

    def warn(self, message: str, *args: object) -> None:
        """`logger.warning(message, *args)`, unless a warning went out less than the interval ago."""
        now = time.monotonic()
        if self._last is None or now - self._last >= WARN_EVERY_SECONDS:
            self._last = now
            self._logger.warning(message, *args)
