"""`GET /metrics` on the API listener: Prometheus text format.

Served here only when `Settings.metrics_on_api_port` allows it (dev; in production only behind
`METRICS_TOKEN`); with `METRICS_PORT` the separate listener serves it instead and this is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chatgate.api.deps import ServicesDep
from chatgate.errors import AuthenticationError, MissingTokenError, NotFoundError
from chatgate.telemetry.exposition import token_matches

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(
    services: ServicesDep, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> Response:
    """The app's metrics, for Prometheus."""
    settings, registry = services.settings, services.telemetry.metrics
    if registry is None or not settings.metrics_on_api_port:
        raise NotFoundError()
    if settings.metrics_token is not None and not token_matches(
        authorization, settings.metrics_token.get_secret_value()
    ):
        refusal = AuthenticationError if authorization else MissingTokenError
        raise refusal("Send Authorization: Bearer <METRICS_TOKEN>.", reason="metrics_token")
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
