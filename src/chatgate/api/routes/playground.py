"""The playground page at `/`, and the dev-only endpoint that mints its tokens.

`page_router` is included when `CHATGATE_PLAYGROUND` is on; `dev_router` only when, in addition,
tokens are signed with the generated dev secret (no auth configured, not production). Anywhere else
`POST /api/dev/token` does not exist (404): a real deployment's tokens come from its identity provider.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, field_validator
from starlette.routing import NoMatchFound

from chatgate.api.deps import ServicesDep
from chatgate.api.schemas import ErrorResponse, RequestBody
from chatgate.auth.dev_secret import mint_token
from chatgate.errors import NotFoundError
from chatgate.playground import load_page
from chatgate.spawn import MAX_USER_ID_CHARS

DEV_TOKEN_TTL_SECONDS = 12 * 3600
# The UIMessage thread endpoint (issue 13): the page restores threads from it when it is served,
# from the older transcript endpoint otherwise.
_MESSAGES_ROUTE = "get_messages"

page_router = APIRouter(tags=["playground"])
dev_router = APIRouter(prefix="/api/dev", tags=["playground"])


@page_router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def playground(request: Request, services: ServicesDep) -> HTMLResponse:
    """The chat page (CHATGATE_PLAYGROUND)."""
    features = {"dev-tokens"} if services.verifier.config.dev_mode else set()
    if _serves(request, _MESSAGES_ROUTE):
        features.add("messages")
    page = load_page(features)
    headers = {
        "content-security-policy": page.content_security_policy,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-cache",
    }
    return HTMLResponse(page.html, headers=headers)


def _serves(request: Request, route_name: str) -> bool:
    # Looked up by name: FastAPI lists an included router as one opaque entry in `app.routes`, so
    # matching paths there finds nothing (the page then never used the thread endpoint).
    try:
        request.app.url_path_for(route_name, conversation_id="x")
    except NoMatchFound:
        return False
    return True


class DevTokenIn(RequestBody):
    user: Annotated[str, Field(min_length=1, max_length=MAX_USER_ID_CHARS, description="The user id (sub).")]

    @field_validator("user")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.strip() or not value.isprintable():
            raise ValueError("must be a printable, non-blank user id")
        return value


class DevTokenOut(BaseModel):
    token: str
    user_id: str
    expires_in: int


@dev_router.post("/token", response_model=DevTokenOut, responses={422: {"model": ErrorResponse}})
async def mint_dev_token(body: DevTokenIn, request: Request, services: ServicesDep) -> DevTokenOut:
    """Dev only: a token for any user name, signed with the generated dev secret (12 hours)."""
    config = services.verifier.config
    if not config.dev_mode or config.hs256_secret is None:  # never included then; checked again
        raise NotFoundError()
    if not _named_by_its_owner(request.url.hostname):
        raise NotFoundError(
            "Dev tokens are minted only for pages opened at localhost or an IP address (like 127.0.0.1)."
        )
    token = mint_token(
        config.hs256_secret,
        body.user,
        ttl_seconds=DEV_TOKEN_TTL_SECONDS,
        issuer=config.issuer,
        audience=config.audience,
    )
    return DevTokenOut(token=token, user_id=body.user, expires_in=DEV_TOKEN_TTL_SECONDS)


def _named_by_its_owner(host: str | None) -> bool:
    """Whether the request's `Host` is `localhost` (or below it) or an IP address.

    DNS rebinding: a page of `attacker.example` whose name is made to resolve to 127.0.0.1 is
    same-origin with this server, so it could mint a token for any user and act with it. Its
    requests carry its own name as `Host`; an address or `localhost` is a name no one else controls.
    """
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
