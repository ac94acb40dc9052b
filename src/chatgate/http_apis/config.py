"""The `[[apis]]` section of `CHATGATE_CONFIG`: which external HTTP APIs the agent may call, and how.

```toml
[[apis]]
name = "crm"                                  # tools become api_crm_<operationId>
base_url = "https://crm.example.com/v1"       # the only scheme, host, port and path prefix reachable
openapi = "crm-openapi.yaml"                  # file (relative to the config file) or URL, JSON or YAML
operations = ["listContacts", "getContact"]   # optional allowlist of operationIds
auth = "service"                              # none | service | user
secret_env = "CRM_TOKEN"                      # service mode: the environment variable holding the secret
```

Each entry is validated here, at start-up, so a typo fails loudly instead of per request.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chatgate.tool_config import ToolConfigError, section

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
# Header names the operator may choose; anything else could smuggle a second header or a line break.
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
# Headers the gateway sets itself (or that would let a tool argument change where a request goes).
RESERVED_HEADERS = frozenset(
    {"host", "authorization", "cookie", "content-length", "content-type", "transfer-encoding", "connection"}
)


class ApiConfig(BaseModel):
    """One operator-configured API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    base_url: str
    openapi: str
    operations: tuple[str, ...] | None = None
    description: str = ""
    auth: Literal["none", "service", "user"] = "none"
    secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    auth_header: str = "Authorization"
    user_id_header: str | None = None
    allow_private: bool = False
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    max_retries: int = Field(default=2, ge=0, le=5)
    retry_backoff_seconds: float = Field(default=0.5, ge=0, le=10)
    max_retry_after_seconds: float = Field(default=10.0, ge=0, le=60)
    max_response_bytes: int = Field(default=64 * 1024, ge=1024, le=4 * 1024 * 1024)
    cache_ttl_seconds: float = Field(default=10.0, ge=0, le=300)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("base_url must be an absolute http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("base_url must not carry credentials, a query or a fragment")
        return value.rstrip("/")

    @field_validator("auth_header", "user_id_header")
    @classmethod
    def _check_header(cls, value: str | None) -> str | None:
        if value is not None and not HEADER_NAME.match(value):
            raise ValueError("must be a plain HTTP header name")
        return value

    @model_validator(mode="after")
    def _check_auth(self) -> ApiConfig:
        if self.auth == "service" and not self.secret_env:
            raise ValueError(
                "auth = 'service' needs secret_env (the environment variable holding the secret)"
            )
        if self.auth != "service" and self.secret_env:
            raise ValueError("secret_env is only used with auth = 'service'")
        if self.user_id_header is not None and self.user_id_header.lower() in RESERVED_HEADERS:
            raise ValueError("user_id_header must not be a header the gateway sets itself")
        if self.auth_header.lower() in RESERVED_HEADERS - {"authorization"}:
            raise ValueError("auth_header must not be a header the gateway sets itself")
        return self

    @property
    def bearer(self) -> bool:
        """The secret is sent as `Authorization: Bearer …` (otherwise raw, in `auth_header`)."""
        return self.auth_header.lower() == "authorization"


def load_api_configs(config: dict[str, Any], *, base_dir: Path | None = None) -> list[ApiConfig]:
    """The validated `[[apis]]` entries; relative `openapi` paths are resolved against `base_dir`.

    Raises:
        ToolConfigError: an entry is invalid, or two entries share a name.
    """
    apis: list[ApiConfig] = []
    for index, raw in enumerate(section(config, "apis")):
        try:
            api = ApiConfig.model_validate(raw)
        except ValidationError as exc:
            label = raw.get("name", f"#{index + 1}")
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}" for err in exc.errors()
            )
            raise ToolConfigError(f"[[apis]] {label}: {problems}") from None
        if base_dir is not None and "://" not in api.openapi and not Path(api.openapi).is_absolute():
            api = api.model_copy(update={"openapi": str((base_dir / api.openapi).resolve())})
        apis.append(api)
    names = [api.name for api in apis]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ToolConfigError(f"[[apis]] names must be unique: {', '.join(duplicates)}")
    return apis
