"""Calls one API operation: build the request, guard it, send it with retries, shape the answer.

One `ApiClient` per tool server (one user, one chat turn) holds one shared `httpx.AsyncClient`.
Nothing here knows about MCP; `chatgate.mcp_server.tools.apis` turns `ApiCallError`s (see
`chatgate.http_apis.errors`) into messages for the model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from chatgate.http_apis.config import HEADER_NAME, RESERVED_HEADERS, ApiConfig
from chatgate.http_apis.errors import (
    ApiCallError,
    RequestRefusedError,
    UpstreamUnavailableError,
)
from chatgate.http_apis.guard import (
    check_url,
    expand_path,
    host_port,
    join_url,
    pinned,
    pinned_transport,
    resolve_pinned,
)
from chatgate.http_apis.operations import OperationSpec, ParameterSpec
from chatgate.http_apis.request_bodies import content_text, request_body
from chatgate.http_apis.responses import ApiResponse, read_response
from chatgate.http_apis.retries import RETRY_STATUSES, backoff, retry_delay
from chatgate.http_apis.styles import DEFAULT_STYLE, header_value, path_value, query_pairs

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_CACHE_ENTRIES = 128


class ApiClient:
    """The tool server's HTTP client for every configured API."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=30)
        self._http = httpx.AsyncClient(
            transport=transport or pinned_transport(limits=limits),
            follow_redirects=False,  # redirects are followed here, each hop checked
            trust_env=False,
            # identity: the size cap then counts what the model would read, and no decompression bomb.
            headers={
                "user-agent": "chatgate-api-tools",
                "accept": "application/json, */*;q=0.5",
                "accept-encoding": "identity",
            },
        )
        self._sleep = sleep
        self._clock = clock
        # One tool server serves one user, so this cache is per user by construction.
        self._cache: dict[tuple[str, str], tuple[float, ApiResponse]] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        api: ApiConfig,
        operation: OperationSpec,
        arguments: dict[str, Any],
        *,
        user_id: str,
        secret: str | None,
    ) -> ApiResponse:
        """Send `operation` with already-validated `arguments`.

        Raises:
            ApiCallError: refused, failed upstream, or unreachable.
        """
        request = self._build(api, operation, arguments, user_id=user_id, secret=secret)
        key = (api.name, operation.tool_name + json.dumps(arguments, sort_keys=True, default=str))
        if operation.method == "GET" and api.cache_ttl_seconds > 0:
            cached = self._cache.get(key)
            if cached is not None and self._clock() - cached[0] < api.cache_ttl_seconds:
                return cached[1]
        elif not operation.read_only:
            # A write may change what a cached read would say.
            self._cache = {k: v for k, v in self._cache.items() if k[0] != api.name}
        response = await self._send(api, request, idempotent=operation.idempotent, secret=secret)
        if operation.method == "GET" and api.cache_ttl_seconds > 0 and 200 <= response.status < 300:
            if len(self._cache) >= _CACHE_ENTRIES:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = (self._clock(), response)
        return response

    def _build(
        self,
        api: ApiConfig,
        operation: OperationSpec,
        arguments: dict[str, Any],
        *,
        user_id: str,
        secret: str | None,
    ) -> httpx.Request:
        path_values: dict[str, Any] = {}
        path_specs: dict[str, ParameterSpec] = {}
        pairs: list[str] = []
        headers: dict[str, str] = {}
        for parameter in operation.parameters:
            if parameter.arg not in arguments or arguments[parameter.arg] is None:
                continue
            value = arguments[parameter.arg]
            style, explode = parameter.style, parameter.explode
            if parameter.content_type is not None:
                # One text in that media type, in the location's default style.
                value = content_text(parameter.content_type, value)
                style, explode = DEFAULT_STYLE[parameter.location], parameter.location == "query"
            style = style or DEFAULT_STYLE[parameter.location]
            if parameter.location == "path":
                path_values[parameter.name] = value
                path_specs[parameter.name] = replace(parameter, style=style, explode=explode)
            elif parameter.location == "query":
                pairs.extend(query_pairs(style, explode, parameter.allow_reserved, parameter.name, value))
            elif parameter.location == "header":
                text = header_value(explode, value)
                # Header values are Latin-1 on the wire and one line; anything else could split them.
                if not (text.isascii() and text.isprintable()):
                    raise RequestRefusedError(
                        f"header parameter {parameter.name} must be one line of printable ASCII"
                    )
                headers[parameter.name] = text

        def serialize(name: str, value: Any) -> str:
            spec = path_specs[name]
            return path_value(spec.style, spec.explode, name, value)

        url = check_url(api, join_url(api, expand_path(operation.path, path_values, serialize)))
        if pairs:
            url = url.copy_with(query="&".join(pairs).encode("ascii"))
        headers.update(_identity_headers(api, user_id=user_id, secret=secret))
        body: dict[str, Any] = {}
        if operation.body_arg and operation.body_arg in arguments:
            body, body_headers = request_body(operation, arguments[operation.body_arg])
            headers.update(body_headers)
        return self._http.build_request(
            operation.method,
            url,
            headers=headers,
            timeout=httpx.Timeout(api.timeout_seconds, connect=api.connect_timeout_seconds),
            **body,
        )

    async def request(
        self,
        api: ApiConfig,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        user_id: str,
        secret: str | None,
    ) -> ApiResponse:
        """Send `method path` (relative to the API's base URL) through the same guard, credential
        handling, retries and size cap as an operation call (for operators' Python tools).

        Raises:
            ApiCallError: refused (another origin or path, a reserved header, a bad method),
                failed upstream, or unreachable.
        """
        method = method.upper()
        if method not in _METHODS:
            raise RequestRefusedError(f"method {method[:16]} is not allowed")
        extra: dict[str, str] = {}
        for name, value in (headers or {}).items():
            if (
                not HEADER_NAME.match(name)
                or name.lower() in RESERVED_HEADERS
                or name.lower() in {api.auth_header.lower(), (api.user_id_header or "").lower()}
            ):
                raise RequestRefusedError(f"header {name[:64]!r} cannot be set by a tool")
            if "\r" in value or "\n" in value:
                raise RequestRefusedError(f"header {name} must be one line")
            extra[name] = value
        url = check_url(api, join_url(api, path))
        request = self._http.build_request(
            method,
            url,
            params={key: _query_value(value) for key, value in params.items()} if params else None,
            headers={**extra, **_identity_headers(api, user_id=user_id, secret=secret)},
            json=json_body,
            timeout=httpx.Timeout(api.timeout_seconds, connect=api.connect_timeout_seconds),
        )
        return await self._send(api, request, idempotent=method in _IDEMPOTENT_METHODS, secret=secret)

    async def _send(
        self, api: ApiConfig, request: httpx.Request, *, idempotent: bool, secret: str | None
    ) -> ApiResponse:
        host, port = host_port(api)
        address = await resolve_pinned(api)  # once per call: retries and redirects reuse it
        retries = api.max_retries if idempotent else 0
        attempt = 0
        with pinned(host, port, address):
            while True:
                try:
                    # `timeout_seconds` bounds the whole attempt: connecting, redirects, headers and
                    # every byte of the body. httpx's own read timeout restarts with each chunk, so
                    # an upstream trickling a byte every few seconds would otherwise never time out.
                    with anyio.fail_after(api.timeout_seconds):
                        outcome = await self._attempt(api, request, attempt, retries, secret=secret)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    if attempt >= retries:
                        raise UpstreamUnavailableError("the API could not be reached") from exc
                    outcome = backoff(api, attempt)
                except (TimeoutError, httpx.TimeoutException) as exc:
                    raise UpstreamUnavailableError(
                        f"the API did not answer within {api.timeout_seconds:g} seconds"
                    ) from exc
                except httpx.HTTPError as exc:
                    raise UpstreamUnavailableError("the connection to the API failed") from exc
                if isinstance(outcome, ApiResponse):
                    return outcome
                await self._sleep(outcome)
                attempt += 1

    async def _attempt(
        self, api: ApiConfig, request: httpx.Request, attempt: int, retries: int, *, secret: str | None
    ) -> ApiResponse | float:
        """The answer, or the seconds to wait before retrying."""
        response = await self._follow(api, request)
        if response.status_code in RETRY_STATUSES and attempt < retries:
            delay = retry_delay(api, response, attempt)
            if delay is not None:
                await response.aclose()
                return delay
        return await read_response(
            response, limit=api.max_response_bytes, timeout_seconds=api.timeout_seconds, secret=secret
        )

    async def _follow(self, api: ApiConfig, request: httpx.Request) -> httpx.Response:
        for _ in range(_MAX_REDIRECTS + 1):
            response = await self._http.send(request, stream=True)
            if response.status_code not in _REDIRECTS or request.method not in {"GET", "HEAD"}:
                return response
            location = response.headers.get("location")
            await response.aclose()
            if not location:
                raise RequestRefusedError("the API redirected without a location")
            try:
                target = check_url(api, request.url.join(location))
            except RequestRefusedError:
                raise RequestRefusedError("the API redirected to another origin or path; refused") from None
            request = self._http.build_request(
                request.method, target, headers=request.headers, extensions=request.extensions
            )
        raise RequestRefusedError(f"the API redirected more than {_MAX_REDIRECTS} times")


def _identity_headers(api: ApiConfig, *, user_id: str, secret: str | None) -> dict[str, str]:
    """The credential header (unless the API needs none) and the bound user's id header, if configured.

    Raises:
        ApiCallError: the API needs a credential and none is available.
    """
    headers: dict[str, str] = {}
    if api.auth != "none":
        if secret is None:
            raise ApiCallError("no credential is available for this API")
        headers[api.auth_header] = f"Bearer {secret}" if api.bearer else secret
    if api.user_id_header:
        # Header values are Latin-1 on the wire; an id outside printable ASCII goes percent-encoded.
        printable = user_id.isascii() and user_id.isprintable()
        headers[api.user_id_header] = user_id if printable else quote(user_id, safe="")
    return headers


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
