"""Failures of an API tool call; every message is safe to show the model (no credential, no URL secrets).

ApiCallError
├── RequestRefusedError      the call would leave the configured API (path escape, origin, address)
├── UpstreamStatusError      the API answered 4xx/5xx (status and a short, redacted excerpt)
└── UpstreamUnavailableError connect failure or timeout, after retries
"""

from __future__ import annotations


class ApiCallError(Exception):
    """A call that did not produce an answer."""


class RequestRefusedError(ApiCallError):
    """The call would leave the configured API; nothing was sent."""


class UpstreamStatusError(ApiCallError):
    def __init__(self, status: int, excerpt: str) -> None:
        self.status = status
        self.excerpt = excerpt
        detail = f": {excerpt}" if excerpt else ""
        super().__init__(f"the API answered HTTP {status}{detail}")


class UpstreamUnavailableError(ApiCallError):
    """Unreachable, or no answer in time."""
