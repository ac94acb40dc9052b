"""The tool names a deployment serves, known to the API process without launching a tool server.

Computed once at start-up by building the tool server unbound, in process, from the same
configuration every tool server reads (the code path is the children's own), so the operator's
declared tables and toolsets are imported and checked before the service takes a request.
"""

from __future__ import annotations

from chatgate.config import Settings
from chatgate.forkserver.protocol import WARM_UP_USER
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings


def served_tool_names(settings: Settings) -> list[str]:
    """Every tool a tool server of this deployment serves (after the agents' allowlists).

    Raises:
        ToolConfigError: the configuration, a declared table or a toolset is invalid.
    """
    # Imported here: a deployment without CHATGATE_CONFIG never needs the server SDK in this process.
    from chatgate.mcp_server.server import build_server

    catalog = settings.apis_catalog_path
    child = ChildSettings(
        # Registration never reads the identity; the server is built unbound and never serves.
        identity=BoundIdentity(user_id=WARM_UP_USER),
        config_file=settings.config_file.resolve() if settings.config_file else None,
        apis_catalog=catalog if settings.config_file is not None and catalog.is_file() else None,
    )
    return build_server(child, bind=False).tool_names()
