"""The child's environment: an allowlist, built fresh for every spawn.

Only the identity and what the tools need cross the process boundary. The model API key and the
JWT secret are never copied, whatever the parent's environment holds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from chatgate import spawn as child
from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.storage.identity import cached_signer

# glibc gives each new thread its own malloc arena, reserving 64 MiB of address space apiece: under
# a tool server's address-space limit (MCP_CHILD_MEMORY_MB) ~16 threads exhaust 1 GiB. Two arenas
# are plenty for a process that serves one request.
MALLOC_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2"}

# A tool server's database identity outlives its longest possible life by this much, and no more.
_IDENTITY_SLACK_SECONDS = 60


def child_environment(
    settings: Settings, principal: Principal, *, request_id: str, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The complete environment of a tool server bound to `principal`, with the API variables of
    `extra_env` (this launch's API tool secrets: the operator's and the caller's own credentials)."""
    limits = settings.files_limits
    env = {name: os.environ[name] for name in child.INTERPRETER_VARIABLES if name in os.environ}
    env.update(
        {
            child.ENV_USER_ID: principal.user_id,
            child.ENV_USER_CLAIMS: json.dumps(principal.profile_claims(), separators=(",", ":")),
            child.ENV_REQUEST_ID: request_id,
            child.ENV_PARENT_PID: str(os.getpid()),
            child.ENV_LOG_LEVEL: "WARNING",
            child.ENV_FILES_ROOT: str(settings.resolved_files_root),
            child.ENV_DATABASE_URL: settings.resolved_database_tools_url,
            child.ENV_SANDBOX: settings.mcp_sandbox,
            child.ENV_FILES_MAX_FILE_BYTES: str(limits.max_file_bytes),
            child.ENV_FILES_QUOTA_BYTES: str(limits.quota_bytes),
            child.ENV_FILES_QUOTA_FILES: str(limits.quota_files),
            child.ENV_FILES_MAX_READ_BYTES: str(limits.max_read_bytes),
            # Children never write .pyc files into the install tree or buffer stdout.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            **MALLOC_ENVIRONMENT,
        }
    )
    # On PostgreSQL: the identity row-level security will verify, signed for this user and launch.
    signer = cached_signer(settings.resolved_database_url)
    if signer is not None:
        lifetime = (
            max(settings.mcp_child_lifetime_seconds, settings.chat_timeout_seconds) + _IDENTITY_SLACK_SECONDS
        )
        env[child.ENV_DATABASE_IDENTITY] = signer.mint(principal.user_id, ttl_seconds=lifetime)
    if settings.config_file is not None:
        env[child.ENV_CONFIG_FILE] = str(settings.config_file.resolve())
        # The compiled `[[apis]]` catalog (no secrets in it), written at start-up when APIs are configured.
        if settings.apis_catalog_path.is_file():
            env[child.ENV_APIS_CATALOG] = str(settings.apis_catalog_path)
    # Only API variables may be added this way: nothing added can overwrite the identity.
    additions = extra_env or {}
    env.update({name: value for name, value in additions.items() if name.startswith(child.API_ENV_PREFIX)})
    return env
