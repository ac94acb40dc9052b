"""Settings of the per-request MCP child, read only from the environment its parent passes.

The parent builds this environment as an allowlist (`chatgate.launcher.environment`): the bound
identity plus tool configuration, under the names of the spawn contract (`chatgate.spawn`).
Model keys and JWT secrets are never in it, so nothing here reads them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chatgate.files.limits import FileLimits
from chatgate.spawn import (
    ENV_API_SERVICE_SECRETS,
    ENV_API_USER_CREDENTIALS,
    ENV_APIS_CATALOG,
    ENV_CONFIG_FILE,
    ENV_DATABASE_IDENTITY,
    ENV_DATABASE_URL,
    ENV_FILES_MAX_FILE_BYTES,
    ENV_FILES_MAX_READ_BYTES,
    ENV_FILES_QUOTA_BYTES,
    ENV_FILES_QUOTA_FILES,
    ENV_FILES_ROOT,
    ENV_LOG_LEVEL,
    ENV_PARENT_PID,
    ENV_REQUEST_ID,
    ENV_SANDBOX,
    ENV_USER_CLAIMS,
    ENV_USER_ID,
    MAX_USER_ID_CHARS,
    PASSED_CLAIMS,
    SandboxMode,
)


class IdentityMissingError(RuntimeError):
    """The child was started without a bound identity; it must refuse to serve."""


@dataclass(frozen=True)
class BoundIdentity:
    """The one user this process serves, fixed before the first protocol byte."""

    user_id: str
    claims: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChildSettings:
    """Everything the child's tools may use."""

    identity: BoundIdentity
    request_id: str = ""
    parent_pid: int | None = None
    log_level: str = "WARNING"
    files_root: Path | None = None
    database_url: str | None = None
    config_file: Path | None = None
    apis_catalog: Path | None = None
    api_service_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    # None: the parent has no usable credential store; {}: it has, and this user connected nothing.
    api_user_credentials: Mapping[str, str] | None = field(default=None, repr=False)
    files_limits: FileLimits = field(default_factory=FileLimits)
    sandbox_mode: SandboxMode = "off"
    database_identity: str | None = field(default=None, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ChildSettings:
        """Read the spawn contract.

        Raises:
            IdentityMissingError: no user id, or an unusable one.
        """
        user_id = environ.get(ENV_USER_ID, "")
        if not user_id or len(user_id) > MAX_USER_ID_CHARS or "\x00" in user_id:
            raise IdentityMissingError(f"{ENV_USER_ID} must hold the bound user id")
        claims = _parse_claims(environ.get(ENV_USER_CLAIMS, ""))
        parent = environ.get(ENV_PARENT_PID, "")
        return cls(
            identity=BoundIdentity(user_id=user_id, claims=claims),
            request_id=environ.get(ENV_REQUEST_ID, ""),
            parent_pid=int(parent) if parent.isdigit() else None,
            log_level=environ.get(ENV_LOG_LEVEL, "WARNING"),
            files_root=_path_or_none(environ.get(ENV_FILES_ROOT)),
            database_url=environ.get(ENV_DATABASE_URL) or None,
            config_file=_path_or_none(environ.get(ENV_CONFIG_FILE)),
            apis_catalog=_path_or_none(environ.get(ENV_APIS_CATALOG)),
            api_service_secrets=_string_map(environ.get(ENV_API_SERVICE_SECRETS)) or {},
            api_user_credentials=_string_map(environ.get(ENV_API_USER_CREDENTIALS)),
            files_limits=_files_limits(environ),
            sandbox_mode=_sandbox_mode(environ.get(ENV_SANDBOX, "")),
            database_identity=environ.get(ENV_DATABASE_IDENTITY) or None,
        )


def _sandbox_mode(raw: str) -> SandboxMode:
    # Absent means a parent that predates containment (or a test building the environment by hand):
    # `auto`, like the service's own default. Anything unrecognised is treated as the strictest mode.
    value = raw.strip().lower() or "auto"
    if value in ("auto", "off"):
        return "auto" if value == "auto" else "off"
    return "required"


def _parse_claims(raw: str) -> dict[str, str]:
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise IdentityMissingError(f"{ENV_USER_CLAIMS} is not JSON") from exc
    if not isinstance(decoded, dict):
        raise IdentityMissingError(f"{ENV_USER_CLAIMS} must be a JSON object")
    # Defense in depth: even if a parent passed more, only the allowlisted string claims survive.
    return {key: value for key, value in decoded.items() if key in PASSED_CLAIMS and isinstance(value, str)}


def _string_map(raw: str | None) -> dict[str, str] | None:
    if raw is None:
        return None
    try:
        decoded = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    if not isinstance(decoded, dict):
        return {}
    return {key: value for key, value in decoded.items() if isinstance(key, str) and isinstance(value, str)}


def _files_limits(environ: Mapping[str, str]) -> FileLimits:
    defaults = FileLimits()

    def positive(name: str, default: int) -> int:
        raw = environ.get(name, "")
        # The parent validated these; an unusable value here falls back to the default, never to "no limit".
        return int(raw) if raw.isdigit() and int(raw) > 0 else default

    return FileLimits(
        max_file_bytes=positive(ENV_FILES_MAX_FILE_BYTES, defaults.max_file_bytes),
        quota_bytes=positive(ENV_FILES_QUOTA_BYTES, defaults.quota_bytes),
        quota_files=positive(ENV_FILES_QUOTA_FILES, defaults.quota_files),
        max_read_bytes=positive(ENV_FILES_MAX_READ_BYTES, defaults.max_read_bytes),
    )


def _path_or_none(raw: str | None) -> Path | None:
    return Path(raw) if raw else None
