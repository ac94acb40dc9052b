"""CORS through the real HTTP endpoint: what a browser page may read, and refused preflights."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from support.live_app import LiveApp, start_live_app

ORIGIN = "https://app.example.test"


@pytest.fixture(scope="module")
def cors_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    server, app = start_live_app(tmp_path_factory.mktemp("cors"), CORS_ORIGINS=ORIGIN)
    with server:
        yield app


def _preflight(
    app: LiveApp, origin: str, method: str = "POST", headers: str = "authorization"
) -> httpx.Response:
    return httpx.options(
        f"{app.url}/api/agents/chat",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
        timeout=10,
    )


def test_pages_can_read_retry_after_and_www_authenticate(cors_app: LiveApp) -> None:
    refused = httpx.post(
        f"{cors_app.url}/api/agents/chat", json={"message": "hi"}, headers={"Origin": ORIGIN}
    )
    assert refused.status_code == 401 and refused.headers["www-authenticate"]
    exposed = {h.strip().lower() for h in refused.headers["access-control-expose-headers"].split(",")}
    assert {"retry-after", "www-authenticate", "x-request-id", "x-conversation-id"} <= exposed


def test_an_allowed_preflight_succeeds(cors_app: LiveApp) -> None:
    allowed = _preflight(cors_app, ORIGIN, headers="authorization, content-type")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    ("origin", "method", "headers", "code"),
    [
        ("https://evil.test", "POST", "authorization", "cors_origin_not_allowed"),
        ("https://evil.test", "PATCH", "x-anything", "cors_origin_not_allowed"),
        (ORIGIN, "PATCH", "authorization", "cors_method_not_allowed"),
        (ORIGIN, "POST", "authorization, x-custom", "cors_headers_not_allowed"),
    ],
)
def test_a_refused_preflight_uses_the_error_shape(
    cors_app: LiveApp, origin: str, method: str, headers: str, code: str
) -> None:
    refused = _preflight(cors_app, origin, method, headers)
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    body = refused.json()
    assert body == {"error": {"code": code, "message": body["error"]["message"]}}
    assert body["error"]["message"]
    if origin != ORIGIN:
        assert "access-control-allow-origin" not in refused.headers
