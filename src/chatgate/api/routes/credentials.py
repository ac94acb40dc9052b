"""`/api/credentials`: the caller connects, lists and removes their own API credentials.

Secrets go in and never come out: no route returns a stored credential.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from chatgate.api.deps import CurrentPrincipal, ServicesDep
from chatgate.api.schemas import ErrorResponse
from chatgate.errors import InvalidRequestError
from chatgate.http_apis.config import NAME_PATTERN
from chatgate.http_apis.parent import MAX_CREDENTIAL_CHARS, ApiService
from chatgate.surrogates import has_surrogate

router = APIRouter(prefix="/api/credentials", tags=["credentials"])

_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse} for status in (401, 404, 422, 503)
}


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: SecretStr = Field(description="Your token for this API; stored encrypted, never shown again.")

    def secret(self) -> str:
        return self.token.get_secret_value()


class ConnectionOut(BaseModel):
    api_name: str
    connected: bool
    updated_at: datetime | None = None


class ConnectionsOut(BaseModel):
    apis: list[ConnectionOut]


def get_api_service(services: ServicesDep) -> ApiService:
    """The API tools' service (always built; with no `[[apis]]` its catalog is empty)."""
    return services.apis


ApiServiceDep = Annotated[ApiService, Depends(get_api_service)]
ApiName = Annotated[str, Path(pattern=NAME_PATTERN, description="The configured API's name.")]


@router.get("", response_model=ConnectionsOut, responses=_ERRORS)
async def list_connections(principal: CurrentPrincipal, apis: ApiServiceDep) -> ConnectionsOut:
    """List the APIs that take your own credential, and which of them you have connected."""
    views = await apis.connections(principal)
    return ConnectionsOut(apis=[ConnectionOut(**vars(view)) for view in views])


@router.put("/{api_name}", status_code=204, responses=_ERRORS)
async def connect(
    api_name: ApiName, body: CredentialIn, principal: CurrentPrincipal, apis: ApiServiceDep
) -> Response:
    """Store (or replace) your credential for one API."""
    secret = body.secret()
    # A secret must arrive exactly: one with a lone surrogate is refused, not repaired (chatgate.surrogates).
    unusable = any(ch in secret for ch in "\r\n\x00") or has_surrogate(secret)
    if not secret.strip() or len(secret) > MAX_CREDENTIAL_CHARS or unusable:
        raise InvalidRequestError(f"token: must be one line of 1 to {MAX_CREDENTIAL_CHARS} characters.")
    await apis.connect(principal, api_name, secret)
    return Response(status_code=204)


@router.delete("/{api_name}", status_code=204, responses=_ERRORS)
async def disconnect(api_name: ApiName, principal: CurrentPrincipal, apis: ApiServiceDep) -> Response:
    """Remove your credential for one API."""
    await apis.disconnect(principal, api_name)
    return Response(status_code=204)
