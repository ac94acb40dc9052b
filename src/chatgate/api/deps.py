"""Dependencies shared by the routes, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chatgate.api.services import Services
from chatgate.auth.principal import Principal
from chatgate.auth.verify import bearer_token
from chatgate.chat import ChatService
from chatgate.errors import AuthenticationError, AuthUnavailableError
from chatgate.files import FileSpace
from chatgate.intake import ChatIntake
from chatgate.observability import request_id_var


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_chat_service(services: ServicesDep) -> ChatService:
    return services.chat


ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]


def get_chat_intake(services: ServicesDep) -> ChatIntake:
    return services.intake


ChatIntakeDep = Annotated[ChatIntake, Depends(get_chat_intake)]


async def get_current_principal(request: Request, services: ServicesDep) -> Principal:
    """The verified caller; 401 (with `WWW-Authenticate`) on any doubt."""
    try:
        # Every Authorization header, not the first: two of them are refused, never picked between.
        principal = await services.verifier.verify(bearer_token(request.headers.getlist("authorization")))
    except (AuthenticationError, AuthUnavailableError) as exc:
        metrics = services.telemetry.metrics
        if metrics is not None:
            reason = exc.reason if isinstance(exc, AuthenticationError) else "jwks_unavailable"
            metrics.auth_failures.labels(reason).inc()
        raise
    # For the request log line: a pseudonym, never the id itself.
    request.state.user_hash = principal.user_hash
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_current_principal)]


def get_request_id() -> str:
    return request_id_var.get()


RequestId = Annotated[str, Depends(get_request_id)]


def get_user_files(principal: CurrentPrincipal, services: ServicesDep) -> FileSpace:
    """The caller's own file space: the one their tool servers use, under the same limits."""
    settings = services.settings
    return FileSpace(settings.resolved_files_root, principal.user_id, settings.files_limits)


UserFiles = Annotated[FileSpace, Depends(get_user_files)]
