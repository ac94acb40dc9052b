"""Per-user limits: RATE_LIMIT_CHATS_PER_MINUTE and MAX_CONCURRENT_CHATS_PER_USER, in-process and shared
through a real Redis (two limiters, or two apps, on one Redis stand for two instances)."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatgate.errors import RateLimitedError, RateLimitUnavailableError
from chatgate.limits import Permit, user_key
from chatgate.limits.in_process import InProcessRateLimiter
from chatgate.limits.redis_window import RedisRateLimiter
from chatgate.telemetry import Metrics
from support.live_app import LiveApp, start_live_app
from support.metrics import scrape, value
from support.models import answer, until_set
from support.redis import require_redis
from support.servers import free_port
from support.tokens import auth


def new_key() -> str:
    return user_key(f"user-{uuid.uuid4().hex}")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# In-process ------------------------------------------------------------------------------------


async def test_per_minute_limit_refuses_with_the_true_retry_after() -> None:
    clock = Clock()
    limiter = InProcessRateLimiter(per_minute=3, concurrent=0, clock=clock)
    key = new_key()
    for _ in range(3):
        await limiter.release(await limiter.acquire(key))
        clock.now += 10  # starts at 1000, 1010, 1020
    clock.now = 1035.2
    with pytest.raises(RateLimitedError) as refused:
        await limiter.acquire(key)
    assert refused.value.limit == "per_minute"
    # The oldest start (1000) leaves the window at 1060: 24.8 s from now, rounded up.
    assert refused.value.headers["Retry-After"] == "25"
    assert await limiter.acquire(new_key())  # another user is not affected
    clock.now = 1060.0
    assert await limiter.acquire(key)  # exactly when Retry-After said


async def test_concurrency_limit_frees_a_slot_on_release() -> None:
    limiter = InProcessRateLimiter(per_minute=0, concurrent=2)
    key = new_key()
    first, second = await limiter.acquire(key), await limiter.acquire(key)
    with pytest.raises(RateLimitedError) as refused:
        await limiter.acquire(key)
    assert refused.value.limit == "concurrent"
    assert refused.value.headers["Retry-After"] == "1"
    await limiter.release(first)
    third = await limiter.acquire(key)
    await limiter.release(second)
    await limiter.release(third)
    await limiter.release(third)  # releasing twice is harmless


# Redis -----------------------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
async def two_instances(redis_url: str) -> AsyncIterator[tuple[RedisRateLimiter, RedisRateLimiter]]:
    """Two limiters on one Redis: what two chatgate instances share."""
    options: dict[str, Any] = {
        "per_minute": 3,
        "concurrent": 2,
        "permit_ttl_seconds": 180,
        "fail_closed": False,
    }
    one, two = (
        RedisRateLimiter.from_url(redis_url, **options),
        RedisRateLimiter.from_url(redis_url, **options),
    )
    yield one, two
    await one.aclose()
    await two.aclose()


@pytest.mark.redis
async def test_redis_limits_are_shared_across_instances(
    two_instances: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    one, two = two_instances
    key = new_key()
    a = await one.acquire(key)
    b = await two.acquire(key)
    with pytest.raises(RateLimitedError) as busy:
        await one.acquire(key)  # two running, on two instances
    assert busy.value.limit == "concurrent"
    await two.release(a)  # released by the other instance: the slot is the user's, not the instance's
    c = await one.acquire(key)
    for permit in (b, c):
        await one.release(permit)
    with pytest.raises(RateLimitedError) as refused:
        await two.acquire(key)  # three starts within the minute, across both instances
    assert refused.value.limit == "per_minute"
    retry_after = int(refused.value.headers["Retry-After"])
    assert 55 <= retry_after <= 60  # the oldest start was a moment ago, on Redis's clock
    assert await two.acquire(new_key())  # another user is not affected


@pytest.mark.redis
async def test_redis_stores_no_user_id(redis_url: str) -> None:
    from redis.asyncio import Redis

    limiter = RedisRateLimiter.from_url(
        redis_url, per_minute=5, concurrent=5, permit_ttl_seconds=60, fail_closed=False
    )
    user = f"visible-user-{uuid.uuid4().hex}"
    permit = await limiter.acquire(user_key(user))
    client = Redis.from_url(redis_url)
    try:
        keys = [key.decode() async for key in client.scan_iter(match="chatgate:limits:*")]
        assert keys and not any(user in key for key in keys)
    finally:
        await limiter.release(permit)
        await limiter.aclose()
        await client.aclose()


HOLDER = """
import asyncio, sys
from chatgate.limits.redis_window import RedisRateLimiter

async def main() -> None:
    url, key, ttl = sys.argv[1], sys.argv[2], float(sys.argv[3])
    limiter = RedisRateLimiter.from_url(
        url, per_minute=0, concurrent=1, permit_ttl_seconds=ttl, fail_closed=False
    )
    await limiter.acquire(key)  # never released: this instance is about to be killed
    print("held", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def _acquire_within(limiter: RedisRateLimiter, key: str, seconds: float) -> Permit | None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            return await limiter.acquire(key)
        except RateLimitedError:
            if asyncio.get_running_loop().time() > deadline:
                return None
            await asyncio.sleep(0.1)


@pytest.mark.redis
async def test_a_killed_instances_slot_is_free_within_one_lease(redis_url: str) -> None:
    # The holder renews its permit every third of the lease while it lives, so its chat keeps its
    # slot past the lease; killed, it renews nothing and the slot comes back within one lease.
    lease = 4.0
    key = new_key()
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, redis_url, key, str(lease), stdout=asyncio.subprocess.PIPE
    )
    other = RedisRateLimiter.from_url(
        redis_url, per_minute=0, concurrent=1, permit_ttl_seconds=lease, fail_closed=False
    )
    try:
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"held\n"
        assert await _acquire_within(other, key, 3 * lease) is None  # alive: renewed past the lease
        holder.kill()
        await holder.wait()
        permit = await _acquire_within(other, key, 60)  # ~one lease; generous for a loaded machine
        assert permit is not None, "the killed instance's slot never came back"
        await other.release(permit)
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await other.aclose()


async def test_redis_outage_fails_open_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    dead = f"redis://127.0.0.1:{free_port()}/0"
    limiter = RedisRateLimiter.from_url(
        dead, per_minute=1, concurrent=1, permit_ttl_seconds=60, fail_closed=False, metrics=metrics
    )
    try:
        with caplog.at_level(logging.WARNING, logger="chatgate.limits.redis_window"):
            first, second = await limiter.acquire(new_key()), await limiter.acquire(new_key())
        assert not first.counted and not second.counted  # admitted, without limits
        await limiter.release(first)
        assert len([r for r in caplog.records if "admitted without limits" in r.getMessage()]) == 1
        assert metrics.rate_limit_backend_errors.labels("fail_open")._value.get() == 2
    finally:
        await limiter.aclose()


async def test_redis_outage_fails_closed_when_asked() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    limiter = RedisRateLimiter.from_url(
        dead, per_minute=1, concurrent=1, permit_ttl_seconds=60, fail_closed=True
    )
    try:
        with pytest.raises(RateLimitUnavailableError) as refused:
            await limiter.acquire(new_key())
        assert refused.value.status_code == 503
        assert refused.value.headers["Retry-After"] == "5"
    finally:
        await limiter.aclose()


# Through the HTTP endpoint ----------------------------------------------------------------------


def post(app: LiveApp, user: str, message: str = "hi") -> httpx.Response:
    return httpx.post(f"{app.url}/api/agents/chat", json={"message": message}, headers=auth(user), timeout=60)


@pytest.fixture(scope="module")
def limited_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    server, app = start_live_app(
        tmp_path_factory.mktemp("limited"),
        MCP_LAUNCHER="exec",
        RATE_LIMIT_CHATS_PER_MINUTE=3,
        MAX_CONCURRENT_CHATS_PER_USER=1,
    )
    with server:
        yield app


def test_per_minute_limit_is_429_with_retry_after(limited_app: LiveApp) -> None:
    limited_app.model.policy = answer("hi")
    user = f"eager-{uuid.uuid4().hex[:8]}"
    assert [post(limited_app, user).status_code for _ in range(3)] == [200, 200, 200]
    refused = post(limited_app, user)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "RATE_LIMIT_CHATS_PER_MINUTE" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert post(limited_app, f"calm-{uuid.uuid4().hex[:8]}").status_code == 200
    samples = scrape(limited_app.url)
    assert value(samples, "chatgate_rate_limit_refusals_total", limit="per_minute") >= 1
    assert value(samples, "chatgate_chats_total", outcome="refused", code="rate_limited", mode="json") >= 1


def test_concurrency_limit_holds_until_the_stream_ends(limited_app: LiveApp) -> None:
    entered, release = threading.Event(), threading.Event()

    async def slow(call: Any) -> Any:
        entered.set()
        await until_set(release)
        return answer("done")(call)

    limited_app.model.policy = slow
    user = f"parallel-{uuid.uuid4().hex[:8]}"
    with httpx.stream(
        "POST",
        f"{limited_app.url}/api/agents/chat",
        json={"message": "long", "stream": True},
        headers=auth(user),
        timeout=60,
    ) as streaming:
        assert streaming.status_code == 200
        assert entered.wait(timeout=30)
        second = post(limited_app, user)
        assert second.status_code == 429
        assert second.headers["Retry-After"] == "1"
        assert "MAX_CONCURRENT_CHATS_PER_USER" in second.json()["error"]["message"]
        release.set()
        assert "data: [DONE]" in streaming.read().decode()
    limited_app.model.policy = answer("hi")
    assert post(limited_app, user).status_code == 200  # the stream's slot was given back


@pytest.mark.redis
def test_two_apps_on_one_redis_share_the_limits(tmp_path: Path, redis_url: str) -> None:
    env: dict[str, Any] = {"MCP_LAUNCHER": "exec", "REDIS_URL": redis_url, "RATE_LIMIT_CHATS_PER_MINUTE": 2}
    server_a, app_a = start_live_app(tmp_path / "a", **env)
    server_b, app_b = start_live_app(tmp_path / "b", **env)
    with server_a, server_b:
        app_a.model.policy = app_b.model.policy = answer("hi")
        user = f"roaming-{uuid.uuid4().hex[:8]}"
        assert post(app_a, user).status_code == 200
        assert post(app_b, user).status_code == 200
        assert post(app_a, user).status_code == 429
        assert post(app_b, user).status_code == 429


def test_fail_closed_is_503_when_redis_is_down(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    server, app = start_live_app(tmp_path, MCP_LAUNCHER="exec", REDIS_URL=dead, RATE_LIMIT_FAIL_CLOSED="true")
    with server:
        app.model.policy = answer("hi")
        refused = post(app, "alice")
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "rate_limit_unavailable"
        assert refused.headers["Retry-After"] == "5"


def test_fail_open_admits_when_redis_is_down(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    server, app = start_live_app(tmp_path, MCP_LAUNCHER="exec", REDIS_URL=dead, RATE_LIMIT_CHATS_PER_MINUTE=1)
    with server:
        app.model.policy = answer("hi")
        assert [post(app, "alice").status_code for _ in range(2)] == [200, 200]
