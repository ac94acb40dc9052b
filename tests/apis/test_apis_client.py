"""`ApiClient` against a real upstream on loopback: auth, retries, limits, redirects, caching."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from apis.upstream import Recorder, Upstream, api_config
from chatgate.http_apis import guard
from chatgate.http_apis.client import ApiClient
from chatgate.http_apis.config import ApiConfig
from chatgate.http_apis.errors import (
    ApiCallError,
    RequestRefusedError,
    UpstreamStatusError,
    UpstreamUnavailableError,
)
from chatgate.http_apis.openapi import build_operations
from chatgate.http_apis.openapi_documents import load_document
from chatgate.http_apis.operations import OperationSpec
from support.servers import free_port

SECRET = "s3cr3t-service-token"


class Sleeps:
    """Records requested waits instead of sleeping (no test waits for real backoff)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(sleeps: Sleeps) -> AsyncIterator[ApiClient]:
    api_client = ApiClient(sleep=sleeps)
    try:
        yield api_client
    finally:
        await api_client.aclose()


@pytest.fixture(scope="module")
def document(upstream: Upstream) -> dict[str, Any]:
    return load_document(upstream.openapi_url)


def ops(api: ApiConfig, document: dict[str, Any]) -> dict[str, OperationSpec]:
    return {op.operation_id: op for op in build_operations(api, document)}


async def call(
    client: ApiClient,
    api: ApiConfig,
    document: dict[str, Any],
    op: str,
    secret: str | None = None,
    **args: Any,
) -> Any:
    return await client.call(api, ops(api, document)[op], args, user_id="alice", secret=secret)


async def test_plain_call_sends_parameters_and_no_credential(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], hits: Recorder
) -> None:
    api = api_config(upstream)
    response = await call(client, api, document, "getItem", item_id="a b", q="red", **{"x-trace": "t-1"})
    assert response.status == 200
    assert response.body == {"id": "a b", "q": "red", "trace": "t-1", "path": "/v1/items/a b"}
    (hit,) = hits.hits
    assert hit.authorization is None and hit.user_id is None
    listed = await call(client, api, document, "listItems", limit=3, tag=["x", "y"])
    assert listed.body == {"limit": 3, "tags": ["x", "y"]}


async def test_service_secret_as_bearer_or_named_header(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], hits: Recorder
) -> None:
    bearer = api_config(upstream, auth="service", secret_env="SHOP_TOKEN", user_id_header="X-User-Id")
    echoed = (await call(client, bearer, document, "whoami", secret=SECRET)).body
    keyed = api_config(upstream, "keyed", auth="service", secret_env="SHOP_TOKEN", auth_header="X-Api-Key")
    await call(client, keyed, document, "whoami", secret=SECRET)
    first, second = hits.hits
    assert (first.authorization, first.api_key, first.user_id) == (f"Bearer {SECRET}", None, "alice")
    assert (second.authorization, second.api_key, second.user_id) == (None, SECRET, None)
    # The upstream echoed the credential back; the model does not get to see it.
    assert echoed == {"authorization": "Bearer [redacted]", "api_key": None, "user_id": "alice"}


async def test_idempotent_calls_retry_5xx_with_backoff(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], hits: Recorder, sleeps: Sleeps
) -> None:
    api = api_config(upstream, max_retries=2, retry_backoff_seconds=0.2)
    response = await call(client, api, document, "flaky", key="a", failures=2)
    assert response.body == {"ok": True, "attempts": 3}
    assert len(sleeps.calls) == 2
    assert 0 <= sleeps.calls[0] <= 0.2 and 0 <= sleeps.calls[1] <= 0.4  # full jitter, doubling


async def test_retry_after_is_honored(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], hits: Recorder, sleeps: Sleeps
) -> None:
    api = api_config(upstream, max_retries=3)
    response = await call(client, api, document, "flaky", key="b", failures=1, status=429, retry_after="3")
    assert response.status == 200
    assert sleeps.calls == [3.0]


async def test_retry_after_longer_than_allowed_is_not_waited_for(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], hits: Recorder, sleeps: Sleeps
) -> None:
    api = api_config(upstream, max_retries=3, max_retry_after_seconds=5)
    with pytest.raises(UpstreamStatusError) as caught:
        await call(client, api, document, "flaky", key="c", failures=5, status=503, retry_after="120")
    assert caught.value.status == 503
    assert sleeps.calls == []
    assert hits.counters["c"] == 1


async def test_retries_stop_after_max_retries(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], hits: Recorder, sleeps: Sleeps
) -> None:
    api = api_config(upstream, max_retries=2)
    with pytest.raises(UpstreamStatusError, match="HTTP 502"):
        await call(client, api, document, "flaky", key="d", failures=10, status=502)
    assert hits.counters["d"] == 3


async def test_non_idempotent_calls_are_not_retried(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], hits: Recorder, sleeps: Sleeps
) -> None:
    api = api_config(upstream, max_retries=3)
    with pytest.raises(UpstreamStatusError, match="HTTP 503"):
        await call(client, api, document, "flakyPost", key="e")
    assert hits.counters["e"] == 1 and sleeps.calls == []


async def test_connect_failures_are_retried_then_reported(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], sleeps: Sleeps
) -> None:
    dead = api_config(upstream, base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=2)
    with pytest.raises(UpstreamUnavailableError, match="could not be reached"):
        await call(client, dead, document, "getItem", item_id="x")
    assert len(sleeps.calls) == 2


async def test_timeouts_are_reported(client: ApiClient, upstream: Upstream, document: dict[str, Any]) -> None:
    api = api_config(upstream, timeout_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError, match=r"within 0\.3 seconds"):
        await call(client, api, document, "slow", seconds=1.0)
    assert time.monotonic() - started < 0.9


async def test_oversized_responses_are_truncated_with_a_marker(
    client: ApiClient, upstream: Upstream, document: dict[str, Any]
) -> None:
    api = api_config(upstream, max_response_bytes=2048)
    response = await call(client, api, document, "big", size=50_000)
    assert response.truncated
    assert isinstance(response.body, str)
    assert response.body.endswith("[truncated: the response was larger than 2048 bytes]")
    assert len(response.body) < 2048 + 100


async def test_non_json_is_described_and_text_is_shown(
    client: ApiClient, upstream: Upstream, document: dict[str, Any]
) -> None:
    api = api_config(upstream)
    page = await call(client, api, document, "page")
    assert page.content_type == "text/html"
    assert page.body.startswith("[a text/html response of ") and "<html>" not in page.body
    notes = await call(client, api, document, "notes")
    assert notes.body == "line one\nline two"


async def test_redirects_leaving_the_origin_or_base_path_are_refused(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], hits: Recorder
) -> None:
    api = api_config(upstream)
    with pytest.raises(RequestRefusedError, match="redirected to another origin"):
        await call(client, api, document, "goAway")
    with pytest.raises(RequestRefusedError, match="redirected"):
        await call(client, api, document, "goAdmin")
    assert "/admin/secret" not in hits.paths()
    moved = await call(client, api, document, "moved")
    assert moved.body["id"] == "moved-here"


@pytest.mark.parametrize("item_id", ["../admin", "..%2F..%2Fadmin%2Fsecret", "%2e%2e", "a/../../admin"])
async def test_path_escapes_never_reach_the_upstream(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], hits: Recorder, item_id: str
) -> None:
    with pytest.raises(RequestRefusedError):
        await call(client, api_config(upstream), document, "getItem", item_id=item_id)
    assert hits.hits == []


async def test_loopback_without_allow_private_is_refused_before_connecting(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], hits: Recorder
) -> None:
    with pytest.raises(RequestRefusedError, match="allow_private"):
        await call(client, api_config(upstream, allow_private=False), document, "getItem", item_id="x")
    assert hits.hits == []


async def test_error_excerpts_never_carry_the_credential(
    client: ApiClient, upstream: Upstream, document: dict[str, Any]
) -> None:
    api = api_config(upstream, auth="service", secret_env="SHOP_TOKEN")
    with pytest.raises(UpstreamStatusError) as caught:
        await call(client, api, document, "echoError", secret=SECRET)
    assert caught.value.status == 401
    assert SECRET not in str(caught.value)
    assert "[redacted]" in str(caught.value)


async def test_gets_are_cached_briefly_and_writes_invalidate(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], hits: Recorder
) -> None:
    api = api_config(upstream, cache_ttl_seconds=30)
    first = await call(client, api, document, "getItem", item_id="c1")
    second = await call(client, api, document, "getItem", item_id="c1")
    assert first == second and hits.paths().count("/v1/items/c1") == 1
    await call(client, api, document, "createItem", body={"name": "n", "price": 1})
    await call(client, api, document, "getItem", item_id="c1")
    assert hits.paths().count("/v1/items/c1") == 2
    uncached = api_config(upstream, cache_ttl_seconds=0)
    await call(client, uncached, document, "getItem", item_id="c2")
    await call(client, uncached, document, "getItem", item_id="c2")
    assert hits.paths().count("/v1/items/c2") == 2


async def test_dns_is_resolved_once_per_call_and_pinned(
    client: ApiClient,
    upstream: Upstream,
    document: dict[str, Any],
    hits: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The host name does not exist in DNS; only our one resolution says where it is, and it is used."""
    lookups: list[str] = []

    async def fake_getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(anyio, "getaddrinfo", fake_getaddrinfo)
    port = upstream.url.rsplit(":", 1)[1]
    api = api_config(upstream, base_url=f"http://shop.invalid:{port}/v1", max_retries=2)
    response = await call(client, api, document, "flaky", key="dns", failures=2)
    assert response.body["attempts"] == 3
    assert lookups == ["shop.invalid"]  # three attempts, one resolution


async def test_rebinding_to_a_private_address_is_refused(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def rebinding(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(guard.anyio, "getaddrinfo", rebinding)
    api = api_config(upstream, base_url="https://shop.example.test/v1", allow_private=False)
    with pytest.raises(ApiCallError, match="private or reserved"):
        await call(client, api, document, "getItem", item_id="x")
