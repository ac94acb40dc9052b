"""Dev mode: a signing secret generated once into the state directory, and tokens minted with it.

Used only when no real auth is configured and `CHATGATE_ENV` is not `production`.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import jwt

DEV_SECRET_FILE = "dev-jwt-secret"  # noqa: S105 - a file name, not a secret
DEV_ISSUER = "chatgate-dev"


def load_or_create_dev_secret(state_dir: Path) -> str:
    """The dev secret, created on first use with owner-only permissions."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / DEV_SECRET_FILE
    try:
        # O_EXCL: two processes starting together must not each write a different secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) < 32:
            raise RuntimeError(f"{path} is corrupt; delete it to generate a new dev secret") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return secret


def mint_token(
    secret: str,
    user_id: str,
    *,
    ttl_seconds: int = 3600,
    issuer: str | None = DEV_ISSUER,
    audience: str | None = None,
    extra_claims: dict[str, str] | None = None,
) -> str:
    """An HS256 token for `user_id`, valid for `ttl_seconds`."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "iat": now, "nbf": now, "exp": now + ttl_seconds}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    claims.update(extra_claims or {})
    return jwt.encode(claims, secret, algorithm="HS256")
