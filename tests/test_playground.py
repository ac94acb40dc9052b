"""The playground page and its dev-only token endpoint, through real HTTP (the browser test drives
the page itself: tests/test_playground_browser.py).

`/` serves the page when `CHATGATE_PLAYGROUND` is on (default: outside production);
`POST /api/dev/token` exists only when tokens are signed with the generated dev secret.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from support.live_app import start_live_app
from support.tokens import TEST_JWT_SECRET


def _serve(tmp_path: Path, **env: Any) -> tuple[Any, str]:
    server, app = start_live_app(tmp_path, MCP_LAUNCHER="exec", **env)
    return server, app.url


def test_dev_mode_serves_the_page_and_mints_tokens(tmp_path: Path) -> None:
    server, url = _serve(tmp_path, JWT_SECRET=None)  # no auth configured: the dev secret signs
    with server, httpx.Client(timeout=30) as client:
        page = client.get(f"{url}/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        # Dev tokens, and the thread endpoint to restore conversations from.
        assert '<meta name="chatgate-features" content="dev-tokens messages">' in page.text
        # The policy lets exactly the page's own inline script run, nothing else.
        policy = page.headers["content-security-policy"]
        script = re.search(r"<script>(.*?)</script>", page.text, re.DOTALL)
        assert script is not None
        digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
        assert f"script-src 'sha256-{digest}';" in policy
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy
        assert "unsafe-inline" not in policy and "<script src" not in page.text

        minted = client.post(f"{url}/api/dev/token", json={"user": "zoë"})
        assert minted.status_code == 200
        body = minted.json()
        assert body["user_id"] == "zoë" and body["expires_in"] == 12 * 3600
        token = body["token"]
        listing = client.get(f"{url}/api/agents/conversations", headers={"Authorization": f"Bearer {token}"})
        assert listing.status_code == 200, listing.text

        for bad in ({"user": ""}, {"user": "   "}, {"user": "a\nb"}, {"user": "x" * 2000}, {}):
            refused = client.post(f"{url}/api/dev/token", json=bad)
            assert refused.status_code == 422, bad
            assert refused.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("localhost", 200),
        ("127.0.0.1", 200),
        ("[::1]", 200),
        ("192.168.1.20", 200),  # a dev server opened from another device by address
        ("chat.localhost", 200),
        ("attacker.example", 404),  # a rebinding name: its page would be same-origin with the server
        ("localhost.attacker.example", 404),
    ],
)
def test_dev_tokens_only_for_pages_named_by_address_or_localhost(
    tmp_path: Path, host: str, status: int
) -> None:
    # DNS rebinding: a page of attacker.example whose name now resolves to 127.0.0.1 reads this
    # server's answers as its own. A name only its owner controls (localhost, an address) cannot be that.
    server, url = _serve(tmp_path, JWT_SECRET=None)
    port = url.rsplit(":", 1)[1]
    with server, httpx.Client(timeout=30) as client:
        minted = client.post(
            f"{url}/api/dev/token", json={"user": "alice"}, headers={"Host": f"{host}:{port}"}
        )
    assert minted.status_code == status, minted.text
    if status == 404:
        assert minted.json()["error"]["code"] == "not_found"
        assert "localhost" in minted.json()["error"]["message"]


@pytest.mark.parametrize(
    ("env", "page_status"),
    [
        ({"CHATGATE_ENV": "production"}, 404),  # off in production by default
        ({"CHATGATE_ENV": "production", "CHATGATE_PLAYGROUND": "true"}, 200),  # on, but no dev tokens
        ({}, 200),  # dev with JWT_SECRET set: the page, and tokens come from elsewhere
        ({"JWT_SECRET": None, "CHATGATE_PLAYGROUND": "false"}, 404),  # dev, turned off
    ],
)
def test_the_dev_token_endpoint_does_not_exist_outside_dev(
    tmp_path: Path, env: dict[str, Any], page_status: int
) -> None:
    server, url = _serve(tmp_path, **env)
    with server, httpx.Client(timeout=30) as client:
        page = client.get(f"{url}/")
        assert page.status_code == page_status
        if page_status == 200:
            assert '<meta name="chatgate-features" content="messages">' in page.text
        else:
            assert page.json()["error"]["code"] == "not_found"
        minted = client.post(f"{url}/api/dev/token", json={"user": "alice"})
        assert minted.status_code == 404
        assert minted.json() == {"error": {"code": "not_found", "message": "Not Found"}}
        assert "/api/dev/token" not in client.get(f"{url}/openapi.json").text


def test_tokens_minted_in_dev_are_signed_with_the_dev_secret_only(tmp_path: Path) -> None:
    server, url = _serve(tmp_path, JWT_SECRET=None)
    with server:
        token = httpx.post(f"{url}/api/dev/token", json={"user": "alice"}, timeout=30).json()["token"]
    secret = (tmp_path / "dev-jwt-secret").read_text().strip()
    assert jwt.decode(token, secret, algorithms=["HS256"], issuer="chatgate-dev")["sub"] == "alice"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"])
