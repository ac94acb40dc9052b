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
# Tool servers launched together on a loaded 2-core machine: eight `exec` launches at once each import
# the MCP SDK (~1 CPU-second), which took past the 10 s default and answered 503 tool_server_unavailable
# (test_chat_api's concurrent users). A launch ceiling, not a speed: tests of the timeout set their own.
PATIENT_LAUNCHES = {"MCP_CONNECT_TIMEOUT_SECONDS": 60}


def make_settings(state_dir: Path, **env: Any) -> Settings:
    """Settings for a test: its own state directory, the test secret, no `.env` file."""
    values: dict[str, Any] = {
        "CHATGATE_STATE_DIR": state_dir,
        "JWT_SECRET": TEST_JWT_SECRET,
        **RAISED_LIMITS,
        **PATIENT_LAUNCHES,
    }
    values.update(env)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
