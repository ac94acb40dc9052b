"""When a failed API call is tried again, and after how long (seconds).

Only idempotent calls are retried (`client`), on the statuses below and on connection failures,
at most `max_retries` times; the wait is exponential backoff with full jitter, or the upstream's
`Retry-After` when it asks for no longer than `max_retry_after_seconds`.
"""

from __future__ import annotations

import email.utils
import random
import time

import httpx

from chatgate.http_apis.config import ApiConfig

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def backoff(api: ApiConfig, attempt: int) -> float:
    """Seconds to wait before retry number `attempt` + 1 (0-based `attempt`)."""
    # Full jitter: concurrent callers spread out instead of retrying in lockstep.
    return float(random.uniform(0, api.retry_backoff_seconds * (2**attempt)))  # noqa: S311 - not crypto


def retry_delay(api: ApiConfig, response: httpx.Response, attempt: int) -> float | None:
    """Seconds to wait before retrying, or None when `Retry-After` asks for longer than we wait."""
    header = response.headers.get("retry-after")
    if header is None:
        return backoff(api, attempt)
    seconds = retry_after_seconds(header)
    if seconds is None:
        return backoff(api, attempt)
    return seconds if seconds <= api.max_retry_after_seconds else None


def retry_after_seconds(header: str) -> float | None:
    """A `Retry-After` value (delay seconds or an HTTP date) in seconds from now; None if unreadable."""
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
