"""The operations part of the API process's settings: per-user limits, Redis, drain, metrics,
tracing and the database pool (`chatgate.config.Settings` inherits them).

Its own class so `config.py` stays one screenful per concern; every field is read exactly as if it
were declared on `Settings` (same environment variables and `.env`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperationsSettings(BaseSettings):
    """What operators tune to run chatgate for real (docs/deploy.md)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # Deployment: `dev` (generated dev secret, playground on) or `production` (auth required).
    env: Literal["dev", "production"] = Field(default="dev", validation_alias="CHATGATE_ENV")

    # Per-user limits (429 rate_limited); 0 turns a limit off. Shared across instances with REDIS_URL.
    rate_limit_chats_per_minute: int = Field(
        default=30, ge=0, le=100_000, validation_alias="RATE_LIMIT_CHATS_PER_MINUTE"
    )
    max_concurrent_chats_per_user: int = Field(
        default=4, ge=0, le=10_000, validation_alias="MAX_CONCURRENT_CHATS_PER_USER"
    )
    redis_url: SecretStr | None = Field(default=None, validation_alias="REDIS_URL")
    # A Redis outage admits chats without limits (and warns) unless this is true (then 503).
    rate_limit_fail_closed: bool = Field(default=False, validation_alias="RATE_LIMIT_FAIL_CLOSED")

    # Operations
    # On SIGTERM: how long chats in flight may take to finish before they are cancelled.
    shutdown_grace_seconds: float = Field(
        default=30.0, ge=0, le=3600, validation_alias="SHUTDOWN_GRACE_SECONDS"
    )
    # How long a conversation stays claimed by an instance that stopped renewing its lease (killed, lost,
    # cut off from the database) before another instance may answer it; renewed every third of it.
    instance_lease_seconds: float = Field(
        default=15.0, ge=1, le=3600, validation_alias="INSTANCE_LEASE_SECONDS"
    )
    metrics_enabled: bool = Field(default=True, validation_alias="METRICS_ENABLED")
    # A separate listener for /metrics (kept off the public port); unset: /metrics on the API port.
    metrics_port: int | None = Field(default=None, ge=1, le=65535, validation_alias="METRICS_PORT")
    metrics_host: str = Field(default="0.0.0.0", validation_alias="METRICS_HOST")
    # Bearer token /metrics requires when set (on either listener).
    metrics_token: SecretStr | None = Field(default=None, validation_alias="METRICS_TOKEN")
    # OpenTelemetry traces (needs the `otel` extra); off unless set. The exporter reads the other OTEL_* vars.
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )

    # Service database connections (PostgreSQL): the API process's pool. Tool servers hold their own.
    database_pool_size: int = Field(default=5, ge=1, le=1000, validation_alias="DATABASE_POOL_SIZE")
    database_max_overflow: int = Field(default=5, ge=0, le=1000, validation_alias="DATABASE_MAX_OVERFLOW")

    @property
    def metrics_on_api_port(self) -> bool:
        """Whether the API listener serves /metrics: not with a separate METRICS_PORT, and in production
        only behind METRICS_TOKEN (operational data is not for the public internet)."""
        if not self.metrics_enabled or self.metrics_port is not None:
            return False
        return self.env != "production" or self.metrics_token is not None
