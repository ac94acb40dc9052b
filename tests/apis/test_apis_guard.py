"""The SSRF guard's pure parts: path escaping, origin pinning, address checks, pinned connects."""

from __future__ import annotations

import ipaddress

import httpcore
import pytest

from apis.upstream import Upstream, api_config
from chatgate.http_apis.config import ApiConfig
from chatgate.http_apis.errors import RequestRefusedError
from chatgate.http_apis.guard import (
    PinnedNetworkBackend,
    address_allowed,
    check_url,
    expand_path,
    resolve_pinned,
)

CONFIG = ApiConfig(name="crm", base_url="https://crm.example.test/v1", openapi="x.json")


@pytest.mark.parametrize(
    "value",
    ["../admin", "..", ".", "a/b", "..%2Fadmin", "%2e%2e%2fadmin", "%252F", "a\\b", "..%5cadmin", "x\ny", ""],
)
def test_path_parameters_that_could_change_the_path_are_refused(value: str) -> None:
    with pytest.raises(RequestRefusedError, match="single path segment"):
        expand_path("/items/{id}", {"id": value})


def test_path_parameters_are_percent_encoded() -> None:
    assert expand_path("/items/{id}/notes/{n}", {"id": "a b?c#d", "n": 7}) == "/items/a%20b%3Fc%23d/notes/7"
    assert expand_path("/items/{id}", {"id": "..."}) == "/items/..."


@pytest.mark.parametrize(
    "url",
    [
        "http://crm.example.test/v1/items",  # another scheme
        "https://crm.example.test:8443/v1/items",  # another port
        "https://evil.example.test/v1/items",  # another host
        "https://crm.example.test.evil.test/v1/items",
        "https://crm.example.test/v10/items",  # a sibling of the base path
        "https://crm.example.test/admin",
        "https://crm.example.test/v1/../admin",
        "https://crm.example.test/v1/%2e%2e/admin",
        "https://crm.example.test/v1/a%2Fb",
        "https://user:pw@crm.example.test/v1/items",
    ],
)
def test_urls_off_the_base_are_refused(url: str) -> None:
    with pytest.raises(RequestRefusedError):
        check_url(CONFIG, url)


def test_urls_under_the_base_pass() -> None:
    assert str(check_url(CONFIG, "https://crm.example.test/v1/items?q=1")) == (
        "https://crm.example.test/v1/items?q=1"
    )
    assert check_url(CONFIG, "https://crm.example.test:443/v1").path == "/v1"


@pytest.mark.parametrize(
    ("address", "private_ok", "expected"),
    [
        ("93.184.216.34", False, True),
        ("2606:4700::1111", False, True),
        ("127.0.0.1", False, False),
        ("::1", False, False),
        ("10.1.2.3", False, False),
        ("172.16.0.1", False, False),
        ("192.168.1.1", False, False),
        ("100.64.0.1", False, False),  # carrier-grade NAT
        ("169.254.1.1", False, False),  # link-local
        ("fe80::1", False, False),
        ("fd12::1", False, False),
        ("::ffff:127.0.0.1", False, False),  # IPv4-mapped loopback
        ("224.0.0.1", False, False),
        ("0.0.0.0", False, False),
        ("127.0.0.1", True, True),
        ("10.1.2.3", True, True),
        ("169.254.169.254", True, False),  # metadata: never, even with allow_private
        ("fd00:ec2::254", True, False),
        ("0.0.0.0", True, False),
    ],
)
def test_address_policy(address: str, private_ok: bool, expected: bool) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_private=private_ok) is expected


async def test_loopback_api_without_allow_private_is_refused(upstream: Upstream) -> None:
    with pytest.raises(RequestRefusedError, match="allow_private"):
        await resolve_pinned(api_config(upstream, allow_private=False))
    named = api_config(
        upstream, allow_private=False, base_url=upstream.base_url.replace("127.0.0.1", "localhost")
    )
    with pytest.raises(RequestRefusedError, match="allow_private"):
        await resolve_pinned(named)
    assert await resolve_pinned(api_config(upstream)) == "127.0.0.1"


async def test_pinned_backend_refuses_hosts_nobody_pinned() -> None:
    with pytest.raises(httpcore.ConnectError, match="unpinned"):
        await PinnedNetworkBackend().connect_tcp("127.0.0.1", 9)
