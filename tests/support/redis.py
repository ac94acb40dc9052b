"""Where the Redis tests find a server: `CHATGATE_TEST_REDIS_URL`, else this machine's default.

Unreachable: the tests are skipped with the reason, unless `CHATGATE_REQUIRE_REDIS=1` (CI), which
makes that a failure.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("CHATGATE_TEST_REDIS_URL") or DEFAULT_REDIS_URL


def require_redis() -> str:
    """The test Redis URL, after checking it answers PING; skips (or fails in CI) otherwise."""
    url = redis_url()
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=3) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
        if not reply.startswith(b"+PONG"):
            raise ConnectionError(f"unexpected reply {reply!r}")
    except OSError as exc:
        reason = f"Redis not reachable at {parts.hostname}:{parts.port}: {type(exc).__name__}: {exc}"
        if os.environ.get("CHATGATE_REQUIRE_REDIS") == "1":
            pytest.fail(f"CHATGATE_REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)
    return url
