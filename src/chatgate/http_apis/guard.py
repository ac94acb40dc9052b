"""SSRF guard: a tool call reaches its API's configured origin and path prefix, and nothing else.

Layers, each enough on its own for what it covers:
1. Path parameters are refused when they could change the path's shape (`/`, `\\`, `.`/`..`
   segments, percent-encoded separators), and are percent-encoded anyway.
2. Every URL sent, the first and each redirect hop, must have the base URL's scheme, host and port
   and stay under its path prefix (after dot-segment normalization).
3. The host is resolved once per call; loopback, private, link-local, CGNAT, multicast and
   reserved addresses are refused unless the API sets `allow_private`; cloud metadata endpoints
   and the unspecified address are refused always.
4. The connection goes to that resolved address (`PinnedNetworkBackend`): a second, rebinding DNS
   answer is never consulted. TLS still verifies, and SNI and `Host` still carry the hostname.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, unquote

import anyio
import httpcore
import httpx

from chatgate.http_apis.config import ApiConfig
from chatgate.http_apis.errors import RequestRefusedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never an API, whatever the operator allows: instance metadata services hand out cloud credentials.
_ALWAYS_FORBIDDEN = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)


def expand_path(
    template: str, values: Mapping[str, Any], serialize: Callable[[str, Any], str] | None = None
) -> str:
    """`template` with each `{name}` replaced by its serialised, percent-encoded value.

    `serialize(name, value)` gives the encoded text (`chatgate.http_apis.styles.path_value`); by
    default a value is one percent-encoded segment.

    Raises:
        RequestRefusedError: a value could change the path's shape once an upstream decodes it.
    """
    path = template
    for name, value in values.items():
        text = serialize(name, value) if serialize is not None else quote(_scalar(value), safe="")
        decoded = text
        # Decode until stable: `%252F` is `%2F` to a server that decodes twice.
        for _ in range(5):
            once = unquote(decoded)
            if once == decoded:
                break
            decoded = once
        if not text or "/" in decoded or "\\" in decoded or decoded in {".", ".."} or _has_control(decoded):
            raise RequestRefusedError(f"path parameter {name} must be a single path segment")
        path = path.replace("{" + name + "}", text)
    return path


def join_url(config: ApiConfig, path: str) -> str:
    """The absolute URL of `path` (from the document) under the API's base URL."""
    return config.base_url + "/" + path.lstrip("/")


def check_url(config: ApiConfig, url: str | httpx.URL) -> httpx.URL:
    """`url` if it is on the API's origin and under its base path.

    Raises:
        RequestRefusedError: another scheme, host or port, or a path outside the base path.
    """
    target = httpx.URL(str(url))
    base = httpx.URL(config.base_url)
    if (target.scheme, target.host, _port(target)) != (base.scheme, base.host, _port(base)):
        raise RequestRefusedError("the request would leave the API's configured origin")
    if target.userinfo:
        raise RequestRefusedError("URLs with credentials are not allowed")
    raw_path = target.raw_path.split(b"?", 1)[0].decode("ascii", "replace")
    lowered = raw_path.lower()
    # Encoded separators would be decoded by some upstreams into a different path than we checked.
    if "%2f" in lowered or "%5c" in lowered or "\\" in raw_path:
        raise RequestRefusedError("encoded path separators are not allowed")
    segments = unquote(raw_path).split("/")
    if any(segment in {".", ".."} for segment in segments):
        raise RequestRefusedError("dot segments are not allowed in the path")
    prefix = base.path.rstrip("/")
    if prefix and not (target.path == prefix or target.path.startswith(prefix + "/")):
        raise RequestRefusedError("the request would leave the API's base path")
    return target


def address_allowed(address: IPAddress, *, allow_private: bool) -> bool:
    """Whether a connection to `address` is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _ALWAYS_FORBIDDEN or address.is_unspecified:
        return False
    if allow_private:
        return True
    return address.is_global and not address.is_multicast


async def resolve_pinned(config: ApiConfig) -> str:
    """Resolve the API's host once and return the first allowed address.

    Raises:
        RequestRefusedError: the host does not resolve, or only to forbidden addresses.
    """
    base = httpx.URL(config.base_url)
    host = base.host
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        candidates: list[IPAddress] = [literal]
    else:
        try:
            infos = await anyio.getaddrinfo(host, _port(base), type=socket.SOCK_STREAM)
        except OSError as exc:
            raise RequestRefusedError(f"the API host {host} does not resolve") from exc
        candidates = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for candidate in candidates:
        if address_allowed(candidate, allow_private=config.allow_private):
            return str(candidate)
    raise RequestRefusedError(
        f"the API host {host} resolves to a private or reserved address; "
        "the operator must set allow_private = true to call it"
    )


# (host, port) -> pinned address, for the tool call running in this context.
_pins: ContextVar[Mapping[tuple[str, int], str] | None] = ContextVar("chatgate_api_pins", default=None)


@contextmanager
def pinned(host: str, port: int, address: str) -> Iterator[None]:
    """Connections opened inside this block to `host:port` go to `address` and nowhere else."""
    token = _pins.set({**(_pins.get() or {}), (host, port): address})
    try:
        yield
    finally:
        _pins.reset(token)


class PinnedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses pinned by `pinned(...)`; an unpinned host is refused."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = (_pins.get() or {}).get((host, port))
        if address is None:
            raise httpcore.ConnectError(f"connection to unpinned host {host}:{port} refused")
        return await self._inner.connect_tcp(
            address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable from API tools")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pinned_transport(*, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go only to pinned addresses.

    httpx does not expose httpcore's `network_backend`, so the pool is rebuilt with the same
    settings httpx would use. No proxies (`trust_env` off): a proxy would connect on our behalf
    to an address we never checked.
    """
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=PinnedNetworkBackend(),
    )
    return transport


def host_port(config: ApiConfig) -> tuple[str, int]:
    base = httpx.URL(config.base_url)
    return base.host, _port(base)


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)
