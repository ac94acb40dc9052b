"""`chatgate serve` at the HTTP level, before the app: a request head that never ends is refused.

The drain on SIGTERM is tested in `tests/test_drain.py`.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from chatgate.serving import MAX_HEAD_BYTES
from support.serving import serve_env, serving
from support.tokens import TEST_JWT_SECRET


def _raw_exchange(url: str, request: bytes) -> bytes:
    """Send `request` as is and read until the server closes the connection."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_a_request_head_past_the_limit_is_413_and_nothing_else_is(tmp_path: Path) -> None:
    env = serve_env(tmp_path / "state", JWT_SECRET=TEST_JWT_SECRET)
    with serving(env, tmp_path) as served:
        # A header a little past the limit, sent whole (so the server reads every byte before it
        # answers and closes): the answer is the error shape, not a server holding it all in memory.
        head = b"GET /api/agents/conversations HTTP/1.1\r\nHost: x\r\nX-Padding: "
        answer = _raw_exchange(served.url, head + b"a" * (MAX_HEAD_BYTES + 1024))
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 413"), answer[:200]
        body = json.loads(rest.partition(b"\r\n\r\n")[2])
        assert body["error"]["code"] == "request_too_large"

        # Under the limit a long header reaches the app; so does a body of any size the app allows,
        # even when it arrives with the head.
        padded = httpx.get(
            f"{served.url}/api/agents/conversations", headers={"X-Padding": "a" * 40_000}, timeout=30
        )
        assert padded.status_code == 401 and padded.json()["error"]["code"] == "missing_token"
        body_text = json.dumps({"message": "x" * 200_000}).encode()
        big_body = _raw_exchange(
            served.url,
            b"POST /api/agents/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body_text)}\r\nConnection: close\r\n\r\n".encode()
            + body_text,
        )
        assert big_body.startswith(b"HTTP/1.1 401"), big_body[:200]
        assert httpx.get(f"{served.url}/healthz", timeout=30).status_code == 200
