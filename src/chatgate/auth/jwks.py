"""A JWKS cache that never blocks the event loop, follows key rotation at once, and cannot be made to
hammer the issuer.

Keys are fetched with an async HTTP client and cached for `ttl_seconds`. A token naming a `kid` we do
not hold triggers a refetch right away: Better Auth creates its new key when it signs the first token
after a rotation, so an unknown `kid` is most often a brand-new key, and a valid token must never be
refused because we happened to fetch a moment ago. Refetches are bounded twice:

- per kid: a kid that a fetch *started after its token arrived* did not list is absent for real (the
  issuer publishes a key before signing with it); it is refused (401) without another fetch for
  `refetch_interval_seconds`;
- overall: every fetch draws from a small budget (`refetch_burst` at once, one more every
  `refetch_interval_seconds`), so a flood of random kids costs the issuer at most that.

When the budget is spent, a token whose key may be new is answered "unavailable, retry in N s"
(`JwksUnavailableError.retry_after_seconds`, the truthful wait), never "invalid".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
DEFAULT_REFETCH_BURST = 3
# Kids remembered as absent: attacker-chosen, so the memory is bounded (oldest forgotten first).
MAX_ABSENT_KIDS = 1024


class JwksUnavailableError(RuntimeError):
    """No answer about this key can be given now; `retry_after_seconds` says when one can."""

    def __init__(self, message: str, *, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, math.ceil(retry_after_seconds))


class RefetchDeferredError(JwksUnavailableError):
    """The token names a key we do not hold, and the refetch budget allows no fetch yet."""


class UnknownKeyError(LookupError):
    """The token names a key the issuer does not publish (per a fetch made after the token arrived)."""


def algorithm_for(jwk: dict[str, Any]) -> str | None:
    """The one algorithm a JWK may verify, or None for a key shape we do not accept."""
    kty = jwk.get("kty")
    crv = jwk.get("crv") if kty != "RSA" else None
    return _ALGORITHM_BY_KEY_SHAPE.get((str(kty), crv))


def loggable_url(url: str) -> str:
    """`url` without credentials, query or fragment, fit for a log line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class FetchBudget:
    """A token bucket: `capacity` fetches at once, one more every `refill_seconds`."""

    def __init__(self, capacity: int, refill_seconds: float, clock: Callable[[], float]) -> None:
        self._capacity = float(capacity)
        self._refill_seconds = refill_seconds
        self._clock = clock
        self._tokens = float(capacity)
        self._updated = clock()

    def _top_up(self) -> None:
        now = self._clock()
        if self._refill_seconds <= 0:  # no limit (tests)
            self._tokens = self._capacity
        else:
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) / self._refill_seconds)
        self._updated = now

    def wait_seconds(self) -> float:
        """Seconds until a fetch is allowed (0: now)."""
        self._top_up()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) * self._refill_seconds

    def take(self) -> None:
        self._top_up()
        self._tokens -= 1


class JwksCache:
    """Signing keys of one issuer, by `kid`."""

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float = 300.0,
        refetch_interval_seconds: float = 30.0,
        refetch_burst: int = DEFAULT_REFETCH_BURST,
        timeout_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._ttl = ttl_seconds
        self._refetch_interval = refetch_interval_seconds
        self._clock = clock
        self._budget = FetchBudget(refetch_burst, refetch_interval_seconds, clock)
        self._client = httpx.AsyncClient(timeout=timeout_seconds, transport=transport, follow_redirects=False)
        self._keys: dict[str, tuple[str, jwt.PyJWK]] = {}
        # When the fetch that produced `_keys` *started*: anything published before then is in them.
        self._keys_since: float | None = None
        self._absent: OrderedDict[str, float] = OrderedDict()
        self._lock = asyncio.Lock()
        self.fetch_count = 0
        self.fetch_failures = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def warm_up(self) -> None:
        """Fetch the key set now (at start-up), so a wrong URL shows in the log before any request."""
        async with self._lock:
            if self._keys_since is None and self._budget.wait_seconds() == 0:
                self._budget.take()
                # A failure is logged with URL and status; requests retry within the budget.
                with contextlib.suppress(JwksUnavailableError):
                    await self._fetch_into_cache(reason="start-up")

    async def key_for(self, kid: str | None) -> tuple[str, jwt.PyJWK]:
        """The (algorithm, key) for `kid`; a single-key set matches a token without `kid`.

        Call it as the token arrives: a fetch started after this call is proof enough about `kid`.

        Raises:
            UnknownKeyError: the issuer does not publish such a key.
            JwksUnavailableError: no key set can be had now, or a refetch that could find the key
                is not allowed yet (`retry_after_seconds`).
        """
        arrived = self._clock()
        if self._expired():
            await self._refresh_expired()
        found = self._lookup(kid)
        if found is not None:
            return found
        async with self._lock:
            return await self._find_with_refetch(kid, arrived)

    def _lookup(self, kid: str | None) -> tuple[str, jwt.PyJWK] | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _expired(self) -> bool:
        return self._keys_since is None or self._clock() - self._keys_since > self._ttl

    async def _refresh_expired(self) -> None:
        async with self._lock:
            if not self._expired():
                return  # another task refreshed while we waited
            wait = self._budget.wait_seconds()
            if wait > 0:
                if not self._keys:
                    raise JwksUnavailableError("no signing keys yet", retry_after_seconds=wait)
                return  # keep serving the cached keys until the budget allows a refresh
            self._budget.take()
            try:
                await self._fetch_into_cache(reason="expired")
            except JwksUnavailableError:
                self.fetch_failures += 1
                if not self._keys:
                    raise
                # The issuer being down says nothing against keys it published: keep them.

    async def _find_with_refetch(self, kid: str | None, arrived: float) -> tuple[str, jwt.PyJWK]:
        found = self._lookup(kid)  # another task may have fetched while we waited for the lock
        if found is not None:
            return found
        if self._keys and self._keys_since is not None and self._keys_since >= arrived:
            raise UnknownKeyError(kid or "")
        if kid is None and self._keys:
            raise UnknownKeyError("")  # several keys and no kid: no fetch can say which one
        if kid is not None and self._recently_absent(kid):
            raise UnknownKeyError(kid)
        wait = self._budget.wait_seconds()
        if wait > 0:
            logger.warning(
                "JWKS refetch for an unknown key deferred",
                extra={
                    "fields": {"event": "jwks_refetch_deferred", "kid": kid, "retry_after_s": round(wait, 1)}
                },
            )
            raise RefetchDeferredError("refetch not allowed yet", retry_after_seconds=wait)
        self._budget.take()
        started = await self._fetch_into_cache(reason="unknown kid")
        found = self._lookup(kid)
        if found is not None:
            return found
        if kid is not None:
            self._absent[kid] = started
            self._absent.move_to_end(kid)
            while len(self._absent) > MAX_ABSENT_KIDS:
                self._absent.popitem(last=False)
        raise UnknownKeyError(kid or "")

    def _recently_absent(self, kid: str) -> bool:
        proven_at = self._absent.get(kid)
        return proven_at is not None and self._clock() - proven_at < self._refetch_interval

    async def _fetch_into_cache(self, *, reason: str) -> float:
        """Fetch and install the key set; returns when the fetch started.

        Raises:
            JwksUnavailableError: the fetch failed (logged with URL and status); cached keys stay.
        """
        started = self._clock()
        try:
            keys = await self._fetch()
        except JwksUnavailableError as exc:
            raise JwksUnavailableError(str(exc), retry_after_seconds=self._budget.wait_seconds()) from exc
        self._keys = keys
        self._keys_since = started
        logger.info(
            "JWKS fetched",
            extra={
                "fields": {
                    "event": "jwks_fetched",
                    "url": loggable_url(self.url),
                    "reason": reason,
                    "kids": sorted(keys)[:20],
                }
            },
        )
        return started

    def _fail(self, problem: str, status: int | None = None) -> JwksUnavailableError:
        logger.warning(
            "JWKS fetch failed: %s",
            problem,
            extra={"fields": {"event": "jwks_fetch_failed", "url": loggable_url(self.url), "status": status}},
        )
        return JwksUnavailableError(f"JWKS could not be fetched: {problem}", retry_after_seconds=1)

    async def _fetch(self) -> dict[str, tuple[str, jwt.PyJWK]]:
        self.fetch_count += 1
        try:
            response = await self._client.get(self.url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            raise self._fail(f"no answer ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise self._fail(f"HTTP {response.status_code}", response.status_code)
        if len(response.content) > MAX_JWKS_BYTES:
            raise self._fail("document too large", response.status_code)
        try:
            document = response.json()
        except ValueError as exc:
            raise self._fail("not JSON", response.status_code) from exc
        raw_keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(raw_keys, list):
            raise self._fail("no 'keys' list", response.status_code)
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
            raise self._fail("no usable signing keys (EdDSA, ES256 or RS256)", response.status_code)
        return keys
