"""`mop_floors`: needs the user's approval and reports progress, then waits until the test lets it
finish (a file `mop-release.txt` in the user's own file space), so a progress bar can be watched."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field

from chatgate.toolkit import ToolContext, Toolset

toolset = Toolset("mop", description="Floors that take a while.")

RELEASE_FILE = "mop-release.txt"
WAIT_LIMIT_SECONDS = 300.0  # a ceiling on a loaded machine; the test releases it at once
POLL_SECONDS = 0.05


@toolset.tool(needs_approval=True, destructive=False)
async def mop_floors(
    ctx: ToolContext, rooms: Annotated[int, Field(description="How many rooms to mop.", ge=2, le=10)]
) -> dict[str, Any]:
    """Mop the given number of rooms."""
    await ctx.report_progress(1, rooms, "room 1")
    # The tool server is sandboxed to the user's file space: the release arrives there (PUT /api/files).
    deadline = asyncio.get_running_loop().time() + WAIT_LIMIT_SECONDS
    while RELEASE_FILE not in [entry["name"] for entry in (await ctx.files.list())["entries"]]:
        if asyncio.get_running_loop().time() > deadline:
            return {"mopped": 1, "gave_up": True}
        await asyncio.sleep(POLL_SECONDS)
    for done in range(2, rooms + 1):
        await ctx.report_progress(done, rooms, f"room {done}")
    return {"mopped": rooms}
