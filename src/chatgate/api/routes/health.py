"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chatgate.api.deps import ServicesDep
from chatgate.api.error_handlers import render
from chatgate.drain import RETRY_AFTER_SECONDS
from chatgate.errors import DrainingError, NotReadyError, SchemaOutOfDateError

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
        return render(
            DrainingError("This instance is shutting down.", retry_after_seconds=RETRY_AFTER_SECONDS)
        )
    try:
        ready = await services.readiness.check()
    except SchemaOutOfDateError as exc:
        return render(exc)
    if ready:
        return {"status": "ready", "launcher": services.chat.launcher.name, "sandbox": services.sandbox_level}
    return render(NotReadyError())
