"""CORS for browser clients: Starlette's middleware, with our error shape and the headers pages need.

A page must be able to read `Retry-After` (503, 429) and `WWW-Authenticate` (401), not only our own
ids, so they are exposed. A refused preflight answers the JSON error shape with a stable code naming
what was refused, instead of Starlette's plain text.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from chatgate.api.error_handlers import render
from chatgate.errors import (
    ChatgateError,
    CorsHeadersNotAllowedError,
    CorsMethodNotAllowedError,
    CorsOriginNotAllowedError,
    CorsPrivateNetworkNotAllowedError,
)

ALLOWED_METHODS = ("GET", "PUT", "POST", "DELETE")
ALLOWED_HEADERS = ("authorization", "content-type", "x-request-id", "accept")
EXPOSED_HEADERS = ("x-request-id", "x-conversation-id", "retry-after", "www-authenticate")
# Headers of Starlette's plain-text refusal that describe its body, not the CORS decision.
_BODY_HEADERS = frozenset({"content-type", "content-length"})


class ChatgateCORSMiddleware(CORSMiddleware):
    """`CORSMiddleware` for `origins`, answering refused preflights 400 with `{"error": {...}}`.

    Codes: `cors_origin_not_allowed`, `cors_method_not_allowed`, `cors_headers_not_allowed`,
    `cors_private_network_not_allowed` (the first that applies).
    """

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refusal = self._refusal(request_headers)
        refusal.headers.update(
            (name, value) for name, value in response.headers.items() if name not in _BODY_HEADERS
        )
        return render(refusal)

    def _refusal(self, request_headers: Headers) -> ChatgateError:
        if not self.is_allowed_origin(origin=request_headers["origin"]):
            return CorsOriginNotAllowedError()
        if request_headers["access-control-request-method"] not in self.allow_methods:
            return CorsMethodNotAllowedError(f"CORS allows only the methods {', '.join(ALLOWED_METHODS)}.")
        requested = request_headers.get("access-control-request-headers") or ""
        names = [header.strip().lower() for header in requested.split(",") if header.strip()]
        if not self.allow_all_headers and any(name not in self.allow_headers for name in names):
            allowed = ", ".join(ALLOWED_HEADERS)
            return CorsHeadersNotAllowedError(f"CORS allows only the request headers {allowed}.")
        return CorsPrivateNetworkNotAllowedError()
