"""What the model sees of an upstream answer: capped, parsed or described, never the credential."""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from chatgate.http_apis.errors import UpstreamStatusError, UpstreamUnavailableError
from chatgate.http_apis.redaction import redact, redact_and_cut, redact_text, secret_forms, slack

EXCERPT_CHARS = 300
TRUNCATION_MARKER = "…[truncated: the response was larger than {limit} bytes]"
_CONTENT_TYPE_CHARS = 100
_TEXT_TYPES = ("text/plain", "text/csv", "text/markdown")


@dataclass(frozen=True)
class ApiResponse:
    """A successful (non-error) answer, shaped for the model."""

    status: int
    content_type: str
    body: Any
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        """What the model reads: `{"status": int, "content_type": str, "body": JSON value or text,
        "truncated"?: True}`."""
        out: dict[str, Any] = {"status": self.status, "content_type": self.content_type, "body": self.body}
        if self.truncated:
            out["truncated"] = True
        return out


async def read_response(
    response: httpx.Response, *, limit: int, timeout_seconds: float, secret: str | None
) -> ApiResponse:
    """Read at most `limit` bytes of `response` (a stream) and shape them; always closes it.

    The credential is redacted before anything is cut (`chatgate.http_apis.redaction`), so no part of
    it reaches the model, whatever the upstream echoes and wherever the cut falls.

    Raises:
        UpstreamStatusError: 4xx/5xx, with a short excerpt.
        UpstreamUnavailableError: the body did not arrive in time.
    """
    forms = secret_forms(secret)
    wanted = limit + slack(forms)  # read past the cut: a secret across it must be seen whole
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            data.extend(chunk)
            if len(data) > wanted:
                break
    except httpx.TimeoutException as exc:
        raise UpstreamUnavailableError(
            f"the API did not finish answering within {timeout_seconds:g} seconds"
        ) from exc
    finally:
        with anyio.CancelScope(shield=True):  # closed even when the attempt's deadline cancels the read
            await response.aclose()
    truncated = len(data) > limit
    raw = redact_and_cut(bytes(data), forms, limit)
    # A header is upstream text too: redacted (and cut) before anything else touches it.
    content_type = redact_text(response.headers.get("content-type", ""), secret, _CONTENT_TYPE_CHARS)
    content_type = content_type.split(";", 1)[0].strip().lower()
    if response.status_code >= 400:
        raise UpstreamStatusError(response.status_code, excerpt(raw, content_type, secret))
    encoding = _encoding(response)
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
        size = f"more than {limit}" if truncated else str(len(data))
        body = f"[a {content_type or 'untyped'} response of {size} bytes, not shown]"
    # Parsed JSON may spell the secret with escapes (`\u0041…`) the byte scan could not see.
    return ApiResponse(
        status=response.status_code, content_type=content_type, body=redact(body, secret), truncated=truncated
    )


def excerpt(raw: bytes, content_type: str, secret: str | None) -> str:
    """A short, one-line, redacted excerpt of an (already redacted) error body; empty for binary types."""
    if content_type and not (
        content_type.startswith("text/") or content_type.endswith("json") or content_type.endswith("+xml")
    ):
        return ""
    text = redact_text(raw.decode("utf-8", errors="replace"), secret)
    one_line = " ".join(text.split())
    cut = redact_text(one_line, secret, EXCERPT_CHARS)
    return cut + ("…" if len(one_line) > EXCERPT_CHARS else "")


def _encoding(response: httpx.Response) -> str:
    # The charset is the upstream's word; an unknown one must not turn an answer into an error.
    name = response.encoding or "utf-8"
    try:
        codecs.lookup(name)
    except LookupError:
        return "utf-8"
    return name
