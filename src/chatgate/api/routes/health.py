"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chatgate.api.deps import ServicesDep
from chatgate.api.error_handlers import error_response
from chatgate.drain import RETRY_AFTER_SECONDS
from chatgate.errors import SchemaOutOfDateError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(services: ServicesDep) -> JSONResponse | dict[str, str]:
    """The database schema is current, this instance can launch a tool server (checked with a real
    launch, cached for a few seconds) and is not draining for shutdown. 503 `draining`,
    `schema_out_of_date` or `not_ready` otherwise.

    `sandbox` is the containment its tool servers get: `full`, `partial` or `off` (`MCP_SANDBOX`).
    """
    if services.intake.drain.draining:
        return error_response(
            503, "draining", "This instance is shutting down.", {"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    try:
        ready = await services.readiness.check()
    except SchemaOutOfDateError as exc:
        return error_response(503, exc.code, exc.message)
    if ready:
        return {"status": "ready", "launcher": services.chat.launcher.name, "sandbox": services.sandbox_level}
    return error_response(
        503, "not_ready", "A tool server could not be launched; see the service logs.", {"Retry-After": "5"}
    )
