"""Settings of the API process: one class, read from the environment and `.env`.

A tool server has its own, smaller settings (`chatgate.mcp_server.settings`), read only from the
environment the launcher builds for it (`chatgate.launcher.environment`), never from this class.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import NoDecode

from chatgate.config_errors import ConfigError, describe_settings_errors
from chatgate.config_operations import OperationsSettings
from chatgate.files.limits import FileLimits
from chatgate.spawn import SandboxMode

MIN_HS256_SECRET_BYTES = 32


class Settings(OperationsSettings):
    """Everything the API process reads from its environment (the operations part: `OperationsSettings`)."""

    # Deployment (CHATGATE_ENV, `env`, is declared in `OperationsSettings`)
    state_dir: Path = Field(default=Path("var"), validation_alias="CHATGATE_STATE_DIR")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")

    # Auth
    jwt_secret: SecretStr | None = Field(default=None, validation_alias="JWT_SECRET")
    jwks_url: str | None = Field(default=None, validation_alias="JWKS_URL")
    better_auth_url: str | None = Field(default=None, validation_alias="BETTER_AUTH_URL")
    jwt_issuer: str | None = Field(default=None, validation_alias="JWT_ISSUER")
    jwt_audience: str | None = Field(default=None, validation_alias="JWT_AUDIENCE")
    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=300, validation_alias="JWT_LEEWAY_SECONDS")
    jwks_refetch_interval_seconds: float = Field(
        default=30.0, ge=1, validation_alias="JWKS_REFETCH_INTERVAL_SECONDS"
    )

    # Model. AGENT_VISION: attached images are also given to the model as image input.
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    openai_api: Literal["chat_completions", "responses"] | None = Field(
        default=None, validation_alias="OPENAI_API"
    )
    agent_model: str = Field(default="gpt-4.1-mini", validation_alias="AGENT_MODEL")
    agent_max_turns: int = Field(default=10, ge=1, le=100, validation_alias="AGENT_MAX_TURNS")
    agent_vision: bool = Field(default=False, validation_alias="AGENT_VISION")
    openai_tracing: bool = Field(default=False, validation_alias="OPENAI_TRACING")

    # Tool data
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    # PostgreSQL: the role tool servers connect as (see `chatgate db grant-tools-role`); default DATABASE_URL.
    database_tools_url: str | None = Field(default=None, validation_alias="DATABASE_TOOLS_URL")
    # SQLite is always migrated at start-up; PostgreSQL only with this (else `chatgate db upgrade`).
    auto_migrate: bool = Field(default=False, validation_alias="CHATGATE_AUTO_MIGRATE")
    files_root: Path | None = Field(
        default=None, validation_alias=AliasChoices("FILES_ROOT", "BASE_DATA_PATH")
    )
    config_file: Path | None = Field(default=None, validation_alias="CHATGATE_CONFIG")
    encryption_key: SecretStr | None = Field(default=None, validation_alias="CHATGATE_ENCRYPTION_KEY")
    files_max_file_bytes: int = Field(
        default=FileLimits.max_file_bytes, ge=1, validation_alias="FILES_MAX_FILE_BYTES"
    )
    files_quota_bytes: int = Field(default=FileLimits.quota_bytes, ge=1, validation_alias="FILES_QUOTA_BYTES")
    files_quota_files: int = Field(default=FileLimits.quota_files, ge=1, validation_alias="FILES_QUOTA_FILES")
    files_max_read_bytes: int = Field(
        default=FileLimits.max_read_bytes, ge=1024, validation_alias="FILES_MAX_READ_BYTES"
    )

    # Tool servers. The launcher, when None: `fork` on Linux, `exec` elsewhere (`resolved_mcp_launcher`).
    mcp_launcher: Literal["exec", "fork"] | None = Field(default=None, validation_alias="MCP_LAUNCHER")
    mcp_child_memory_mb: int = Field(default=1024, ge=0, le=1 << 20, validation_alias="MCP_CHILD_MEMORY_MB")
    mcp_child_lifetime_seconds: float = Field(
        default=600.0, gt=0, le=86400, validation_alias="MCP_CHILD_LIFETIME_SECONDS"
    )
    mcp_fork_spares: int = Field(default=2, ge=0, le=64, validation_alias="MCP_FORK_SPARES")
    # Kernel containment of every tool server: `auto`, `required` or `off` (`chatgate.spawn.SandboxMode`).
    mcp_sandbox: SandboxMode = Field(default="auto", validation_alias="MCP_SANDBOX")
    max_concurrent_sessions: int = Field(
        default=32, ge=1, le=4096, validation_alias="MAX_CONCURRENT_SESSIONS"
    )
    admission_wait_seconds: float = Field(default=2.0, ge=0, le=60, validation_alias="ADMISSION_WAIT_SECONDS")
    mcp_connect_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, validation_alias="MCP_CONNECT_TIMEOUT_SECONDS"
    )
    mcp_tool_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, validation_alias="MCP_TOOL_TIMEOUT_SECONDS"
    )

    # Conversations
    conversation_history_limit: int = Field(
        default=100, ge=2, le=10_000, validation_alias="CONVERSATION_HISTORY_LIMIT"
    )
    approval_ttl_seconds: int = Field(default=86_400, ge=1, validation_alias="APPROVAL_TTL_SECONDS")

    # HTTP API
    chat_timeout_seconds: float = Field(default=120.0, gt=0, le=3600, validation_alias="CHAT_TIMEOUT_SECONDS")
    max_request_bytes: int = Field(default=256 * 1024, ge=1024, validation_alias="MAX_REQUEST_BYTES")
    stream_keepalive_seconds: float = Field(
        default=15.0, gt=0, le=300, validation_alias="STREAM_KEEPALIVE_SECONDS"
    )
    max_message_chars: int = Field(default=32_000, ge=1, validation_alias="MAX_MESSAGE_CHARS")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="CORS_ORIGINS"
    )
    # The chat page at `/` (`chatgate.playground`); None: on in dev, off in production.
    playground: bool | None = Field(default=None, validation_alias="CHATGATE_PLAYGROUND")

    @field_validator("mcp_sandbox", mode="before")
    @classmethod
    def _blank_sandbox_is_auto(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or "auto"
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator(
        "mcp_launcher",
        "jwks_url",
        "better_auth_url",
        "openai_base_url",
        "openai_api",
        "jwt_issuer",
        "jwt_audience",
        "database_url",
        "database_tools_url",
        "files_root",
        "config_file",
        "jwt_secret",
        "openai_api_key",
        "encryption_key",
        "redis_url",
        "metrics_token",
        "metrics_port",
        "otel_exporter_otlp_endpoint",
        "playground",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `.env.example` ships these keys empty; an empty value means "not configured" (or the default).
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("jwks_url", "better_auth_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an absolute http(s) URL such as https://auth.example.com")
            return value.strip()
        return value

    @model_validator(mode="after")
    def _derive_better_auth_defaults(self) -> Settings:
        if self.better_auth_url:
            base = self.better_auth_url.rstrip("/")
            if self.jwks_url is None:
                self.jwks_url = f"{base}/api/auth/jwks"
            # Better Auth's JWT plugin stamps its base URL's *origin* (lower-cased) as iss and aud.
            parts = urlsplit(base)
            origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
            if self.jwt_issuer is None:
                self.jwt_issuer = origin
            if self.jwt_audience is None:
                self.jwt_audience = origin
        return self

    @property
    def auth_configured(self) -> bool:
        """True when a real verifier (shared secret or JWKS) is configured."""
        return self.jwt_secret is not None or self.jwks_url is not None

    @property
    def model_configured(self) -> bool:
        """True when a model endpoint is configured (an OpenAI key or a compatible base URL)."""
        return self.openai_api_key is not None or self.openai_base_url is not None

    @property
    def playground_enabled(self) -> bool:
        """Whether `/` serves the playground: `CHATGATE_PLAYGROUND`, else on outside production."""
        return self.playground if self.playground is not None else self.env != "production"

    @property
    def resolved_mcp_launcher(self) -> Literal["exec", "fork"]:
        """The launcher to use: as configured, else `fork` where it is supported (Linux)."""
        if self.mcp_launcher is not None:
            return self.mcp_launcher
        return "fork" if sys.platform.startswith("linux") else "exec"

    @property
    def resolved_files_root(self) -> Path:
        return (self.files_root or self.state_dir / "files").resolve()

    @property
    def files_limits(self) -> FileLimits:
        """Per-user file limits, as passed to every tool server."""
        return FileLimits(
            max_file_bytes=self.files_max_file_bytes,
            quota_bytes=self.files_quota_bytes,
            quota_files=self.files_quota_files,
            max_read_bytes=self.files_max_read_bytes,
        )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.state_dir / 'chatgate.db').resolve()}"

    @property
    def resolved_database_tools_url(self) -> str:
        """What tool servers connect with: `DATABASE_TOOLS_URL`, else the service's own database URL."""
        return self.database_tools_url or self.resolved_database_url

    @property
    def apis_catalog_path(self) -> Path:
        """Where the compiled `[[apis]]` catalog is written for tool servers to read."""
        return (self.state_dir / "apis-catalog.json").resolve()

    def check_servable(self) -> None:
        """Refuse configurations that must not serve traffic.

        Raises:
            ConfigError: production without auth, or an HS256 secret too short to resist brute force.
        """
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
        if self.env == "production":
            if not self.auth_configured:
                raise ConfigError(
                    "CHATGATE_ENV=production needs JWT_SECRET, JWKS_URL or BETTER_AUTH_URL; "
                    "refusing to start unauthenticated"
                )
            if secret is not None and len(secret.encode()) < MIN_HS256_SECRET_BYTES:
                raise ConfigError(f"JWT_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes in production")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment and `.env` on the first call, then cached.

    Raises:
        ConfigError: a variable (environment or `.env`) has a value that cannot be used.
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe_settings_errors(exc)) from None
