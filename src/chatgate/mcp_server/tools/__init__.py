"""The tool server's tools: one module per group, each exposing `register(server, …)`.

`identity`, `files`, `records`, `tables` and `toolsets` are registered by `register_all`; the API
tools (`apis`) are passed to the server when it is built (`chatgate.mcp_server.server.build_server`).
`annotations` and `database_calls` are what the groups share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatgate.agent_config import tool_allowlist
from chatgate.http_apis.catalog import ApiCatalog
from chatgate.mcp_server.settings import ChildSettings
from chatgate.mcp_server.tools import files, identity, records, tables, toolsets
from chatgate.storage.tables import load_table_specs
from chatgate.tool_config import load_tool_config
from chatgate.toolsets.loader import add_import_paths, load_toolsets, toolset_entries

if TYPE_CHECKING:
    from chatgate.mcp_server.server import StrictMCPServer


def register_all(server: StrictMCPServer, settings: ChildSettings, catalog: ApiCatalog) -> None:
    """Register the built-in groups and the operator's toolsets on `server`, then drop the tools no
    configured agent may use (the API tools are already on `server`, and are filtered with the rest).

    `catalog` is the compiled API catalog, which toolsets reach through their context's API calls.

    Raises:
        ToolConfigError: the configuration file, a declared table or a toolset is invalid.
    """
    config = load_tool_config(settings.config_file)
    entries = toolset_entries(config, base_dir=settings.config_file.parent if settings.config_file else None)
    # Before any operator import: declared-table models may live in a toolset's package too.
    add_import_paths(entries)
    identity.register(server)
    files.register(server)
    records.register(server)
    tables.register(server, load_table_specs(config))
    toolsets.register(server, load_toolsets(entries), catalog)
    patterns = tool_allowlist(config)
    if patterns is not None:
        server.keep_only(patterns)
