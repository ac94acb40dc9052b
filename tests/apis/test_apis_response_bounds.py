"""The bounds on an upstream answer: no part of a credential through the size cap, and a deadline
that a trickling upstream cannot stretch."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from apis.upstream import Upstream, api_config
from chatgate.http_apis.client import ApiClient
from chatgate.http_apis.config import ApiConfig
from chatgate.http_apis.errors import UpstreamStatusError, UpstreamUnavailableError
from chatgate.http_apis.openapi import build_operations
from chatgate.http_apis.openapi_documents import load_document
from chatgate.http_apis.redaction import redact_and_cut, secret_forms

# Neither its first character nor any three in a row occur in the padding, the upstream's filler
# text, the truncation marker or an error message, whatever their case.
SECRET = "ZQ7-VLT-KEY-8869-XJW"
ECHOED = f"Bearer {SECRET}"
LIMIT = 1024


@pytest.fixture
async def client() -> AsyncIterator[ApiClient]:
    api_client = ApiClient()
    try:
        yield api_client
    finally:
        await api_client.aclose()


@pytest.fixture(scope="module")
def document(upstream: Upstream) -> dict[str, Any]:
    return load_document(upstream.openapi_url)


async def _call(client: ApiClient, api: ApiConfig, document: dict[str, Any], op: str, **args: Any) -> Any:
    (operation,) = [o for o in build_operations(api, document) if o.operation_id == op]
    return await client.call(api, operation, args, user_id="alice", secret=SECRET)


def _shows_no_part_of_the_secret(text: str) -> bool:
    shown = text.upper()
    return SECRET[0] not in shown and all(SECRET[i : i + 3] not in shown for i in range(len(SECRET) - 2))


@pytest.mark.parametrize("into", range(len(ECHOED) + 1))
async def test_no_prefix_of_the_credential_survives_the_size_cap(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], into: int
) -> None:
    """The field report: padded so the cut fell inside the echoed secret, the model saw all but its tail."""
    api = api_config(upstream, auth="service", secret_env="S", max_response_bytes=LIMIT)
    response = await _call(client, api, document, "echoPadded", pad=LIMIT - into)
    assert response.truncated
    assert _shows_no_part_of_the_secret(response.body), response.body[-80:]


@pytest.mark.parametrize("into", [1, 8, 12, len(ECHOED) - 1])
async def test_json_bodies_error_excerpts_and_content_types_are_cut_after_redaction(
    client: ApiClient, upstream: Upstream, document: dict[str, Any], into: int
) -> None:
    api = api_config(upstream, auth="service", secret_env="S", max_response_bytes=LIMIT)
    as_json = await _call(client, api, document, "echoPadded", pad=LIMIT - into, media="application/json")
    assert _shows_no_part_of_the_secret(as_json.body)
    # An error's excerpt is cut at 300 characters; the cap at 1024 bytes is far away.
    with pytest.raises(UpstreamStatusError) as caught:
        await _call(client, api, document, "echoPadded", pad=300 - into, status=401)
    assert _shows_no_part_of_the_secret(str(caught.value)), str(caught.value)
    # The content type is shown too (cut at 100 characters).
    typed = await _call(
        client, api, document, "echoPadded", pad=100 - len("application/x-") - into, in_type=True
    )
    assert _shows_no_part_of_the_secret(typed.content_type + typed.body), typed.content_type


def test_redaction_handles_every_spelling_and_position() -> None:
    forms = secret_forms("a/b+c")
    data = b'{"x": "a\\/b+c", "y": "a%2Fb%2Bc", "z": "a/b+c"}'
    assert (
        redact_and_cut(data, forms, len(data)) == b'{"x": "[redacted]", "y": "[redacted]", "z": "[redacted]"}'
    )
    # Cut inside an occurrence: the occurrence is replaced whole.
    assert redact_and_cut(b"..a/b+c..", forms, 4) == b"..[redacted]"
    # Cut where the text only begins like the secret: treated as the secret.
    assert redact_and_cut(b"....a/x", forms, 6) == b"....[redacted]"
    assert redact_and_cut(b"....xyz", forms, 6) == b"....xy"


async def test_timeout_seconds_bounds_a_trickling_answer(
    client: ApiClient, upstream: Upstream, document: dict[str, Any]
) -> None:
    """The field report: headers, then a byte every 0.5 s, kept the call open until the tool timeout."""
    api = api_config(upstream, timeout_seconds=1.0, max_retries=0)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError, match=r"did not answer within 1 seconds"):
        await _call(client, api, document, "trickle", count=60, interval=0.5)
    # The trickle lasts 30 s; a generous ceiling, far below that, that any loaded machine meets.
    assert time.monotonic() - started < 15
