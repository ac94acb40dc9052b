"""Settings for tests: their own state directory, the test secret, per-user limits out of the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chatgate.config import Settings
from support.tokens import TEST_JWT_SECRET

# Model, auth and service variables the suite removes from the process environment before anything
# reads them (`tests/conftest.py`), so no developer setting leaks into a test.
SCRUBBED_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API",
    "AGENT_MODEL",
    "JWT_SECRET",
    "JWKS_URL",
    "BETTER_AUTH_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "DATABASE_URL",
    "FILES_ROOT",
    "BASE_DATA_PATH",
    "CHATGATE_STATE_DIR",
    "CHATGATE_CONFIG",
    "CHATGATE_ENCRYPTION_KEY",
    "MCP_LAUNCHER",
    "CHATGATE_ENV",
    "MAX_CONCURRENT_SESSIONS",
    "CORS_ORIGINS",
    "OPENAI_TRACING",
    "REDIS_URL",
    "RATE_LIMIT_CHATS_PER_MINUTE",
    "MAX_CONCURRENT_CHATS_PER_USER",
    "RATE_LIMIT_FAIL_CLOSED",
    "METRICS_ENABLED",
    "METRICS_PORT",
    "METRICS_TOKEN",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "SHUTDOWN_GRACE_SECONDS",
    "CHATGATE_PLAYGROUND",
)
# Tests send many chats per user quickly: the per-user limits are raised far out of the way unless a
# test sets them (tests/test_rate_limits.py does).
RAISED_LIMITS = {"RATE_LIMIT_CHATS_PER_MINUTE": 100_000, "MAX_CONCURRENT_CHATS_PER_USER": 10_000}


def make_settings(state_dir: Path, **env: Any) -> Settings:
    """Settings for a test: its own state directory, the test secret, no `.env` file."""
    values: dict[str, Any] = {"CHATGATE_STATE_DIR": state_dir, "JWT_SECRET": TEST_JWT_SECRET, **RAISED_LIMITS}
    values.update(env)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
