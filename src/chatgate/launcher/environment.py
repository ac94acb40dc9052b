"""The child's environment: an allowlist, built fresh for every spawn.

Only the identity and what the tools need cross the process boundary. The model API key and the
JWT secret are never copied, whatever the parent's environment holds.
"""

from __future__ import annotations

import json
import os

from chatgate.config import Settings
from chatgate.mcp_server import settings as child
from chatgate.principal import Principal

# Inherited from the parent only because the interpreter needs them to start and find its packages.
_INTERPRETER_VARIABLES = ("PYTHONPATH", "VIRTUAL_ENV", "LANG", "LC_ALL", "TZ", "TMPDIR")


def child_environment(settings: Settings, principal: Principal, *, request_id: str) -> dict[str, str]:
    """The complete environment of a tool server bound to `principal`."""
    env = {name: os.environ[name] for name in _INTERPRETER_VARIABLES if name in os.environ}
    env.update(
        {
            child.ENV_USER_ID: principal.user_id,
            child.ENV_USER_CLAIMS: json.dumps(principal.profile_claims(), separators=(",", ":")),
            child.ENV_REQUEST_ID: request_id,
            child.ENV_PARENT_PID: str(os.getpid()),
            child.ENV_LOG_LEVEL: "WARNING",
            child.ENV_FILES_ROOT: str(settings.resolved_files_root),
            child.ENV_DATABASE_URL: settings.resolved_database_url,
            child.ENV_FILES_MAX_FILE_BYTES: str(settings.files_max_file_bytes),
            child.ENV_FILES_QUOTA_BYTES: str(settings.files_quota_bytes),
            child.ENV_FILES_QUOTA_FILES: str(settings.files_quota_files),
            child.ENV_FILES_MAX_READ_BYTES: str(settings.files_max_read_bytes),
            # Children never write .pyc files into the install tree or buffer stdout.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.config_file is not None:
        env[child.ENV_CONFIG_FILE] = str(settings.config_file.resolve())
    return env
