"""The normaliser in the OpenAI client's HTTP layer (httpx2, the client library the OpenAI SDK uses).

Sitting below the SDKs means every answer is fixed before anything parses it, streamed or not,
whatever the Agents SDK version does with it; the request in hand tells which tool-call ids the
conversation already uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx2
from openai import DEFAULT_CONNECTION_LIMITS, DEFAULT_TIMEOUT

from chatgate.model_wire.normalise import CallIds, StreamNormaliser, ids_in_request, normalise_completion

_DROPPED_HEADERS = ("content-length", "content-encoding")  # the body is re-encoded, uncompressed
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class ChatCompletionsWire(httpx2.AsyncBaseTransport):
    """Wraps `inner`; rewrites successful `POST …/chat/completions` answers (JSON or SSE)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        if not _is_completion(request) or response.status_code != 200:
            return response
        ids = CallIds(lambda: ids_in_request(_body(request)))
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "text/event-stream":
            return _replaced(response, request, stream=_NormalisedEvents(response, StreamNormaliser(ids)))
        if media_type.endswith("json"):
            try:
                raw = await response.aread()
            finally:
                await response.aclose()
            return _replaced(response, request, content=_normalised_json(raw, ids))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class NormalisingClient(httpx2.AsyncClient):
    """The OpenAI client's defaults (timeouts, pool limits, redirects, proxies from the environment),
    with every transport it picks wrapped in `ChatCompletionsWire`."""

    def __init__(self) -> None:
        super().__init__(timeout=DEFAULT_TIMEOUT, limits=DEFAULT_CONNECTION_LIMITS, follow_redirects=True)
        self._wires: dict[int, ChatCompletionsWire] = {}

    def _transport_for_url(self, url: httpx2.URL) -> httpx2.AsyncBaseTransport:
        # The one place httpx2 decides between the pool and a proxy from the environment: wrapping
        # its choice keeps that choice. (Passing `transport=` would turn proxies off.)
        transport = super()._transport_for_url(url)
        wire = self._wires.get(id(transport))
        if wire is None:
            wire = self._wires[id(transport)] = ChatCompletionsWire(transport)
        return wire


class _NormalisedEvents(httpx2.AsyncByteStream):
    """The SSE body of `response`, line by line, with every `data:` chunk normalised."""

    def __init__(self, response: httpx2.Response, normaliser: StreamNormaliser) -> None:
        self._response = response
        self._normaliser = normaliser

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pending = b""
        async for data in self._response.aiter_bytes():
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            out = b"".join(self._line(line + b"\n") for line in lines)
            if out:
                yield out
        out = (self._line(pending) if pending else b"") + _events(self._normaliser.end())
        if out:
            yield out

    def _line(self, line: bytes) -> bytes:
        content = line.rstrip(b"\r\n")
        if not content.startswith(b"data:"):
            return line
        payload = content[len(b"data:") :].strip()
        if payload == b"[DONE]":
            return _events(self._normaliser.end()) + line
        if self._normaliser.idle and _plain(payload):
            return line  # most chunks are text: decoding and re-encoding them would change nothing
        try:
            chunk = json.loads(payload.decode("utf-8", "replace"))
        except ValueError:
            return line
        if not isinstance(chunk, dict):
            return line
        *before, current = self._normaliser.chunk(chunk)
        return _events(before) + b"data: " + _dumps(current) + line[len(content) :]

    async def aclose(self) -> None:
        await self._response.aclose()


def _plain(payload: bytes) -> bool:
    """No tool call and no text the normaliser would change (surrogate escapes, invalid UTF-8)."""
    if b'"tool_calls"' in payload or _SURROGATE_ESCAPE.search(payload):
        return False
    if payload.isascii():
        return True
    try:
        payload.decode()
    except UnicodeDecodeError:
        return False
    return True


def _normalised_json(raw: bytes, ids: CallIds) -> bytes:
    try:
        body = json.loads(raw.decode("utf-8", "replace"))  # invalid UTF-8 becomes U+FFFD too
    except ValueError:
        return raw  # not JSON: the OpenAI client reports that as it would have
    if not isinstance(body, dict):
        return raw
    return _dumps(normalise_completion(body, ids))


def _replaced(
    response: httpx2.Response,
    request: httpx2.Request,
    *,
    content: bytes | None = None,
    stream: httpx2.AsyncByteStream | None = None,
) -> httpx2.Response:
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DROPPED_HEADERS]
    return httpx2.Response(
        response.status_code,
        headers=headers,
        content=content,
        stream=stream,
        request=request,
        extensions=response.extensions,
    )


def _is_completion(request: httpx2.Request) -> bool:
    return request.method == "POST" and request.url.path.rstrip("/").endswith("/chat/completions")


def _body(request: httpx2.Request) -> bytes:
    try:
        return request.content
    except httpx2.RequestNotRead:
        return b""


def _events(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + _dumps(chunk) + b"\n\n" for chunk in chunks)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
