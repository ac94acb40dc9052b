"""`chores_sweep`: needs the user's approval (`needs_approval=True`) and reports its progress."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from chatgate.toolkit import ToolContext, Toolset

toolset = Toolset("chores", description="Household chores.")


@toolset.tool(needs_approval=True, destructive=False)
async def chores_sweep(
    ctx: ToolContext, rooms: Annotated[int, Field(description="How many rooms to sweep.", ge=1, le=10)]
) -> dict[str, Any]:
    """Sweep the given number of rooms."""
    for done in range(1, rooms + 1):
        await ctx.report_progress(done, rooms, f"room {done}")
    return {"swept": rooms}
