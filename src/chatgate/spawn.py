"""The spawn contract: the names the API process and its tool servers both use.

A tool server learns everything from its environment, which the API process builds as an allowlist
(`chatgate.launcher.environment`) and the tool server reads back (`chatgate.mcp_server.settings`).
Both sides import the names from here, so neither package imports the other for them.
"""

from __future__ import annotations

from typing import Literal

# The bound identity and the request it serves.
ENV_USER_ID = "CHATGATE_USER_ID"
ENV_USER_CLAIMS = "CHATGATE_USER_CLAIMS"
ENV_REQUEST_ID = "CHATGATE_REQUEST_ID"
ENV_PARENT_PID = "CHATGATE_PARENT_PID"
ENV_LOG_LEVEL = "CHATGATE_CHILD_LOG_LEVEL"
# Where the tools find the user's data and the tool configuration.
ENV_FILES_ROOT = "FILES_ROOT"
ENV_DATABASE_URL = "DATABASE_URL"
ENV_CONFIG_FILE = "CHATGATE_CONFIG"
# Containment (`chatgate.sandbox`): the mode, and on PostgreSQL the signed identity the tool server
# presents to row-level security (minted per launch by the API process; see `chatgate.storage.identity`).
ENV_SANDBOX = "CHATGATE_SANDBOX"
ENV_DATABASE_IDENTITY = "CHATGATE_DATABASE_IDENTITY"
# API tools: the compiled catalog, the operator's service secrets and the bound user's own
# credentials (JSON objects keyed by API name). Only variables with this prefix may be added per launch.
API_ENV_PREFIX = "CHATGATE_API"
ENV_APIS_CATALOG = "CHATGATE_APIS_CATALOG"
ENV_API_SERVICE_SECRETS = "CHATGATE_API_SERVICE_SECRETS"
ENV_API_USER_CREDENTIALS = "CHATGATE_API_USER_CREDENTIALS"
# The file tools' limits (bytes and counts; positive integers as decimal text).
ENV_FILES_MAX_FILE_BYTES = "FILES_MAX_FILE_BYTES"
ENV_FILES_QUOTA_BYTES = "FILES_QUOTA_BYTES"
ENV_FILES_QUOTA_FILES = "FILES_QUOTA_FILES"
ENV_FILES_MAX_READ_BYTES = "FILES_MAX_READ_BYTES"

# Inherited from the API process by every tool server (and the fork template) only because the
# interpreter needs them to start and find its packages.
INTERPRETER_VARIABLES = ("PYTHONPATH", "VIRTUAL_ENV", "LANG", "LC_ALL", "TZ", "TMPDIR")

# How a tool server is contained by the kernel (`chatgate.sandbox`): the `MCP_SANDBOX` setting.
SandboxMode = Literal["auto", "required", "off"]

# Claims the API process may pass to a tool server (for `whoami`); everything else in the token stays behind.
PASSED_CLAIMS = ("email", "name")
# The longest user id a token may carry and a tool server will serve (characters).
MAX_USER_ID_CHARS = 1024
