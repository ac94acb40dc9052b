"""Dev mode: a signing secret generated once into the state directory, and tokens minted with it.

Used only when no real auth is configured and `CHATGATE_ENV` is not `production`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from pathlib import Path

import jwt

DEV_SECRET_FILE = "dev-jwt-secret"  # noqa: S105 - a file name, not a secret
DEV_ISSUER = "chatgate-dev"


def load_or_create_dev_secret(state_dir: Path) -> str:
    """The dev secret, created on first use with owner-only permissions.

    Written to a private temporary file, then published with `os.link`, which fails if the name
    exists: two processes starting together agree on one secret, and no reader sees a partial file.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / DEV_SECRET_FILE
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=state_dir, prefix=".dev-jwt-secret.")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process won the race: use its secret
                os.link(temporary, path)
        finally:
            Path(temporary).unlink()
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < 32:
        raise RuntimeError(f"{path} is corrupt; delete it to generate a new dev secret")
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
