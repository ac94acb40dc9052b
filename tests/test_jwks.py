"""The JWKS cache under key rotation and floods of unknown kids, on a loopback JWKS and a test clock."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from chatgate.auth.jwks import JwksCache, JwksUnavailableError, UnknownKeyError
from support.jwks_server import JwksServer
from support.servers import ThreadedServer

INTERVAL = 30.0


class Clock:
    """Monotonic test time: a tick per reading (so "later" is always later), jumps on demand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def issuer() -> Iterator[tuple[JwksServer, str]]:
    server = JwksServer()
    server.add("EdDSA", "ed-1")
    with ThreadedServer(server.app) as http:
        yield server, http.url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def cache(issuer: tuple[JwksServer, str], clock: Clock) -> AsyncIterator[JwksCache]:
    _, url = issuer
    jwks = JwksCache(f"{url}/jwks", refetch_interval_seconds=INTERVAL, clock=clock)
    try:
        yield jwks
    finally:
        await jwks.aclose()


async def test_a_new_kid_right_after_a_fetch_is_fetched_at_once(
    issuer: tuple[JwksServer, str], cache: JwksCache
) -> None:
    server, _ = issuer
    await cache.key_for("ed-1")
    assert server.hits == 1
    kid = server.add("ES256", "rotated")
    algorithm, _ = await cache.key_for(kid)  # no time has passed: the interval must not matter
    assert algorithm == "ES256" and server.hits == 2


async def test_concurrent_tokens_with_the_new_kid_share_one_fetch(
    issuer: tuple[JwksServer, str], cache: JwksCache
) -> None:
    server, _ = issuer
    await cache.key_for("ed-1")
    kid = server.add("EdDSA", "rotated")
    found = await asyncio.gather(*(cache.key_for(kid) for _ in range(20)))
    assert {algorithm for algorithm, _ in found} == {"EdDSA"}
    assert server.hits == 2


async def test_an_unknown_kid_is_fetched_for_once_per_interval(
    issuer: tuple[JwksServer, str], cache: JwksCache, clock: Clock
) -> None:
    server, _ = issuer
    await cache.key_for("ed-1")
    for _ in range(10):
        with pytest.raises(UnknownKeyError):
            await cache.key_for("forged")
    assert server.hits == 2
    clock.advance(INTERVAL)
    with pytest.raises(UnknownKeyError):
        await cache.key_for("forged")
    assert server.hits == 3


async def test_a_flood_of_random_kids_is_bounded_and_never_refuses_a_valid_new_key(
    issuer: tuple[JwksServer, str], cache: JwksCache, clock: Clock
) -> None:
    server, _ = issuer
    await cache.key_for("ed-1")
    outcomes = {"unknown": 0, "deferred": 0}
    for _ in range(200):
        try:
            await cache.key_for(uuid.uuid4().hex)
        except UnknownKeyError:
            outcomes["unknown"] += 1
        except JwksUnavailableError:
            outcomes["deferred"] += 1
    assert server.hits == 3  # a burst of 3 fetches in all, the first one included
    assert outcomes == {"unknown": 2, "deferred": 198}
    # The issuer rotates now: its valid new key is deferred (503), never refused (401) ...
    kid = server.add("RS256", "rotated")
    with pytest.raises(JwksUnavailableError) as deferred:
        await cache.key_for(kid)
    retry_after = deferred.value.retry_after_seconds
    assert 1 <= retry_after <= INTERVAL
    # ... and Retry-After is truthful: a second earlier it is still too early, then it works.
    clock.advance(retry_after - 1)
    with pytest.raises(JwksUnavailableError):
        await cache.key_for(kid)
    clock.advance(1)
    algorithm, _ = await cache.key_for(kid)
    assert algorithm == "RS256" and server.hits == 4


async def test_known_keys_keep_working_during_a_flood(
    issuer: tuple[JwksServer, str], cache: JwksCache
) -> None:
    await cache.key_for("ed-1")
    for _ in range(20):
        with pytest.raises((UnknownKeyError, JwksUnavailableError)):
            await cache.key_for(uuid.uuid4().hex)
    algorithm, _ = await cache.key_for("ed-1")
    assert algorithm == "EdDSA"


async def test_an_unreachable_issuer_is_deferred_with_retry_after(clock: Clock) -> None:
    jwks = JwksCache("http://127.0.0.1:9/jwks", refetch_interval_seconds=INTERVAL, clock=clock)
    try:
        for _ in range(6):
            with pytest.raises(JwksUnavailableError) as unavailable:
                await jwks.key_for("ed-1")
            assert unavailable.value.retry_after_seconds >= 1
        assert jwks.fetch_count == 3  # the budget bounds attempts at a dead issuer too
    finally:
        await jwks.aclose()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_fetch_failures_log_url_and_status_without_secrets(
    issuer: tuple[JwksServer, str], clock: Clock
) -> None:
    _, url = issuer
    handler = _Records()
    logger = logging.getLogger("chatgate.auth.jwks")
    logger.addHandler(handler)
    jwks = JwksCache(
        url.replace("http://", "http://reader:hunter2@") + "/no-such-path?token=s3cret", clock=clock
    )
    try:
        with pytest.raises(JwksUnavailableError):
            await jwks.key_for("ed-1")
    finally:
        logger.removeHandler(handler)
        await jwks.aclose()
    failures = [r for r in handler.records if r.fields.get("event") == "jwks_fetch_failed"]  # type: ignore[attr-defined]
    assert len(failures) == 1
    fields = failures[0].fields  # type: ignore[attr-defined]
    assert fields["status"] == 404
    assert fields["url"] == f"{url}/no-such-path"
    rendered = failures[0].getMessage() + json.dumps(fields)
    assert "hunter2" not in rendered and "s3cret" not in rendered
