"""File tools: the bound user's own files, through `chatgate.files.FileSpace`.

The space is opened for the bound identity in the server's lifespan; no argument here can name
another user's files. Paths are validated and every file system access is no-follow and fd-relative
(see `chatgate.files.walk`). Results are compact JSON; failures are `FileSpaceError` messages that
name only the user's relative path, raised as `ToolError` so the model sees them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import Field

from chatgate.files import FileSpace, FileSpaceError
from chatgate.files.limits import (
    LIST_DEFAULT_ENTRIES,
    LIST_MAX_ENTRIES,
    SEARCH_DEFAULT_RESULTS,
    SEARCH_MAX_QUERY_CHARS,
    SEARCH_MAX_RESULTS,
)
from chatgate.mcp_server.context import ToolResources, resources_of
from chatgate.mcp_server.tools.annotations import ADDS, READS, REPLACES, REPLACES_REPEATEDLY


async def files_list(
    ctx: Context[ToolResources, Any],
    path: Annotated[
        str,
        Field(
            description="Name the folder to list, relative to the top of the user's files ('.' is the top)."
        ),
    ] = ".",
    recursive: Annotated[
        bool, Field(description="Include everything below the folder, not only what is in it.")
    ] = False,
    limit: Annotated[
        int, Field(ge=1, le=LIST_MAX_ENTRIES, description="Return at most this many entries.")
    ] = LIST_DEFAULT_ENTRIES,
) -> CallToolResult:
    """List the files and folders in one of the user's folders, with type, size and modification time."""
    return await _run(ctx, lambda space: space.list(path, recursive=recursive, limit=limit))


async def files_read(
    ctx: Context[ToolResources, Any],
    path: Annotated[
        str, Field(description="Name the file to read, relative to the top, like notes/todo.md.")
    ],
    offset: Annotated[
        int, Field(ge=0, description="Skip this many lines (or bytes, with unit 'bytes') from the start.")
    ] = 0,
    limit: Annotated[
        int | None, Field(ge=1, description="Return at most this many lines (or bytes, with unit 'bytes').")
    ] = None,
    unit: Annotated[
        Literal["lines", "bytes"], Field(description="Count offset and limit in lines or bytes.")
    ] = "lines",
) -> CallToolResult:
    """Read a text file from the user's files, in slices up to a size cap; binary files are only described."""
    return await _run(ctx, lambda space: space.read(path, offset=offset, limit=limit, unit=unit))


async def files_write(
    ctx: Context[ToolResources, Any],
    path: Annotated[
        str, Field(description="Name the file to write, relative to the top; missing folders are created.")
    ],
    content: Annotated[str, Field(description="Give the text to write.")],
    mode: Annotated[
        Literal["create", "overwrite", "append"],
        Field(
            description="Use create for a new file, overwrite to replace one, or append to add to its end."
        ),
    ] = "create",
) -> CallToolResult:
    """Write text to a file in the user's files, all at once or not at all."""
    return await _run(ctx, lambda space: space.write(path, content, mode=mode))


async def files_delete(
    ctx: Context[ToolResources, Any],
    path: Annotated[str, Field(description="Name the file or empty folder to delete, relative to the top.")],
) -> CallToolResult:
    """Delete a file or an empty folder from the user's files."""
    return await _run(ctx, lambda space: space.delete(path))


async def files_move(
    ctx: Context[ToolResources, Any],
    source: Annotated[str, Field(description="Name the file or folder to move, relative to the top.")],
    destination: Annotated[
        str, Field(description="Give its new path, which must not exist yet; missing folders are created.")
    ],
) -> CallToolResult:
    """Move or rename a file or folder within the user's files."""
    return await _run(ctx, lambda space: space.move(source, destination))


async def files_search(
    ctx: Context[ToolResources, Any],
    query: Annotated[
        str,
        Field(
            min_length=1,
            max_length=SEARCH_MAX_QUERY_CHARS,
            description="Give the text to find, or a pattern like *.md or Berlin*trip when kind is glob.",
        ),
    ],
    path: Annotated[str, Field(description="Name the folder to search in ('.' searches everything).")] = ".",
    kind: Annotated[
        Literal["substring", "glob"],
        Field(description="Match the query as case-insensitive text, or as a glob with * and ?."),
    ] = "substring",
    scope: Annotated[
        Literal["all", "names", "contents"],
        Field(description="Search file and folder names, text contents, or both."),
    ] = "all",
    limit: Annotated[
        int, Field(ge=1, le=SEARCH_MAX_RESULTS, description="Return at most this many matches.")
    ] = SEARCH_DEFAULT_RESULTS,
) -> CallToolResult:
    """Search the user's files by name and text content, returning matching paths and lines."""
    return await _run(ctx, lambda space: space.search(query, path, kind=kind, scope=scope, limit=limit))


async def _run(
    ctx: Context[ToolResources, Any], operation: Callable[[FileSpace], dict[str, Any]]
) -> CallToolResult:
    space = resources_of(ctx).files
    if space is None:
        raise ToolError("file storage is not configured for this service")
    try:
        # Blocking file I/O (fsync included) runs off the event loop.
        result = await anyio.to_thread.run_sync(operation, space)
    except FileSpaceError as exc:
        raise ToolError(str(exc)) from exc
    text = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=result)


def register(server: MCPServer[ToolResources]) -> None:
    server.add_tool(files_list, name="files_list", annotations=READS)
    server.add_tool(files_read, name="files_read", annotations=READS)
    server.add_tool(files_search, name="files_search", annotations=READS)
    # Destructive: overwrite replaces content. Not idempotent: append adds again.
    server.add_tool(files_write, name="files_write", annotations=REPLACES_REPEATEDLY)
    server.add_tool(files_delete, name="files_delete", annotations=REPLACES)
    # Not destructive: a move never replaces an existing entry, so nothing is lost.
    server.add_tool(files_move, name="files_move", annotations=ADDS)
