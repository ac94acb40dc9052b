"""Tokens for tests: the suite's HS256 secret, signed tokens and bearer headers."""

from __future__ import annotations

import time
from typing import Any

import jwt

TEST_JWT_SECRET = "chatgate-test-secret-" + "s" * 40


def mint(user: str | None = "alice", *, secret: str = TEST_JWT_SECRET, ttl: int = 3600, **claims: Any) -> str:
    """A token for `user` (`sub`) signed with `secret`, valid for `ttl` seconds, with extra `claims`."""
    now = int(time.time())
    payload: dict[str, Any] = {"iat": now, "exp": now + ttl, **claims}
    if user is not None:
        payload.setdefault("sub", user)
    return jwt.encode(payload, secret, algorithm="HS256")


def auth(user: str = "alice", **claims: Any) -> dict[str, str]:
    """The `Authorization` header of a valid token for `user`."""
    return {"Authorization": f"Bearer {mint(user, **claims)}"}
