"""A JWKS cache that never blocks the event loop and cannot be made to hammer the issuer.

Keys are fetched with an async HTTP client, cached for `ttl_seconds`, and refetched early only when
a token names a `kid` we do not know (key rotation), at most once per `refetch_interval_seconds`
however many such tokens arrive: an attacker sending random `kid`s costs the issuer nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import jwt

logger = logging.getLogger(__name__)

# Asymmetric algorithms we accept from a JWKS, keyed by the JWK shape that implies them. A key's
# type fixes its algorithm, so a token cannot pick a weaker or confused one (no HS256 with an RSA key).
_ALGORITHM_BY_KEY_SHAPE = {
    ("OKP", "Ed25519"): "EdDSA",
    ("EC", "P-256"): "ES256",
    ("RSA", None): "RS256",
}
JWKS_ALGORITHMS = frozenset(_ALGORITHM_BY_KEY_SHAPE.values())
MAX_JWKS_BYTES = 256 * 1024


class JwksUnavailableError(RuntimeError):
    """No key set could be obtained from the issuer."""


class UnknownKeyError(LookupError):
    """The token names a key the issuer does not publish (after the allowed refetch)."""


def algorithm_for(jwk: dict[str, Any]) -> str | None:
    """The one algorithm a JWK may verify, or None for a key shape we do not accept."""
    kty = jwk.get("kty")
    crv = jwk.get("crv") if kty != "RSA" else None
    return _ALGORITHM_BY_KEY_SHAPE.get((str(kty), crv))


class JwksCache:
    """Signing keys of one issuer, by `kid`."""

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float = 300.0,
        refetch_interval_seconds: float = 30.0,
        timeout_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self._ttl = ttl_seconds
        self._refetch_interval = refetch_interval_seconds
        self._client = httpx.AsyncClient(timeout=timeout_seconds, transport=transport, follow_redirects=False)
        self._keys: dict[str, tuple[str, jwt.PyJWK]] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0
        self.fetch_failures = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def key_for(self, kid: str | None) -> tuple[str, jwt.PyJWK]:
        """The (algorithm, key) for `kid`; a single-key set matches a token without `kid`.

        Raises:
            UnknownKeyError: no such key, even after the allowed refetch.
            JwksUnavailableError: the key set could not be fetched and none is cached.
        """
        if self._stale():
            await self._refresh(force=False)
        found = self._lookup(kid)
        if found is None and self._may_refetch():
            await self._refresh(force=True)
            found = self._lookup(kid)
        if not self._keys:
            # No key set at all (the issuer is down): that says nothing about the token.
            raise JwksUnavailableError("no signing keys could be fetched")
        if found is None:
            raise UnknownKeyError(kid or "")
        return found

    def _lookup(self, kid: str | None) -> tuple[str, jwt.PyJWK] | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _stale(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at > self._ttl

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at >= self._refetch_interval

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            # Another task may have refreshed while we waited for the lock.
            if (force and not self._may_refetch()) or (not force and not self._stale()):
                return
            try:
                keys = await self._fetch()
            except JwksUnavailableError:
                self.fetch_failures += 1
                # Rate-limit failures too, and keep serving the last good set if there is one.
                self._fetched_at = time.monotonic()
                if not self._keys:
                    raise
                logger.warning("JWKS refresh failed; keeping %d cached keys", len(self._keys))
                return
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def _fetch(self) -> dict[str, tuple[str, jwt.PyJWK]]:
        self.fetch_count += 1
        try:
            response = await self._client.get(self._url, headers={"accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > MAX_JWKS_BYTES:
                raise JwksUnavailableError("JWKS document too large")
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("JWKS fetch failed: %s", type(exc).__name__)
            raise JwksUnavailableError("JWKS could not be fetched") from exc
        raw_keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(raw_keys, list):
            raise JwksUnavailableError("JWKS document has no key list")
        keys: dict[str, tuple[str, jwt.PyJWK]] = {}
        for index, raw in enumerate(raw_keys):
            if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
                continue
            algorithm = algorithm_for(raw)
            if algorithm is None:
                continue  # symmetric or unsupported keys are never trusted from a URL
            try:
                key = jwt.PyJWK(raw, algorithm=algorithm)
            except jwt.PyJWTError:
                continue
            keys[str(raw.get("kid", f"#{index}"))] = (algorithm, key)
        if not keys:
            raise JwksUnavailableError("JWKS has no usable signing keys")
        return keys
