"""What the model sees of an upstream answer: capped, parsed or described, never the credential."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from chatgate.apis.errors import UpstreamStatusError, UpstreamUnavailableError

EXCERPT_CHARS = 300
TRUNCATION_MARKER = "…[truncated: the response was larger than {limit} bytes]"
REDACTED = "[redacted]"
_TEXT_TYPES = ("text/plain", "text/csv", "text/markdown")


@dataclass(frozen=True)
class ApiResponse:
    """A successful (non-error) answer, shaped for the model."""

    status: int
    content_type: str
    body: Any
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "content_type": self.content_type, "body": self.body}
        if self.truncated:
            out["truncated"] = True
        return out


async def read_response(
    response: httpx.Response, *, limit: int, timeout_seconds: float, secret: str | None
) -> ApiResponse:
    """Read at most `limit` bytes of `response` (a stream) and shape them; always closes it.

    Raises:
        UpstreamStatusError: 4xx/5xx, with a short excerpt.
        UpstreamUnavailableError: the body did not arrive in time.
    """
    data = bytearray()
    truncated = False
    try:
        async for chunk in response.aiter_bytes():
            data.extend(chunk)
            if len(data) > limit:
                truncated = True
                break
    except httpx.TimeoutException as exc:
        raise UpstreamUnavailableError(
            f"the API did not finish answering within {timeout_seconds:g} seconds"
        ) from exc
    finally:
        await response.aclose()
    raw = bytes(data[:limit])
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if response.status_code >= 400:
        raise UpstreamStatusError(response.status_code, excerpt(raw, content_type, secret))
    encoding = response.encoding or "utf-8"
    body: Any
    if content_type == "application/json" or content_type.endswith("+json"):
        text = raw.decode(encoding, errors="replace")
        if truncated:
            body = text + TRUNCATION_MARKER.format(limit=limit)
        else:
            try:
                body = json.loads(text) if text.strip() else None
            except json.JSONDecodeError:
                body = text
    elif content_type in _TEXT_TYPES:
        body = raw.decode(encoding, errors="replace")
        if truncated:
            body += TRUNCATION_MARKER.format(limit=limit)
    elif not raw and not truncated:
        body = None
    else:
        size = f"more than {limit}" if truncated else str(len(raw))
        body = f"[a {content_type or 'untyped'} response of {size} bytes, not shown]"
    return ApiResponse(
        status=response.status_code, content_type=content_type, body=redact(body, secret), truncated=truncated
    )


def excerpt(raw: bytes, content_type: str, secret: str | None) -> str:
    """A short, one-line, redacted excerpt of an error body (empty for binary types)."""
    if content_type and not (
        content_type.startswith("text/") or content_type.endswith("json") or content_type.endswith("+xml")
    ):
        return ""
    text = " ".join(raw.decode("utf-8", errors="replace").split())
    if secret:
        text = text.replace(secret, REDACTED)
    return text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else "")


def redact(value: Any, secret: str | None) -> Any:
    """`value` with every occurrence of `secret` replaced: an upstream echoing the request back
    (a debug endpoint, an error page) must not hand the credential to the model."""
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, list):
        return [redact(item, secret) for item in value]
    if isinstance(value, dict):
        return {redact(key, secret): redact(item, secret) for key, item in value.items()}
    return value
