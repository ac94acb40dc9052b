"""Progress a running tool reports (MCP progress notifications), as transient UI stream parts.

A tool server sends `notifications/progress` with the progress token chatgate gave the call (its
tool call id); the stream turns each into a `data-tool-progress` part that `useChat` hands to
`onData` and does not keep in the message (`transient: true`), so a UI can draw a bar.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agents.stream_events import StreamEvent

PROGRESS_PART = "data-tool-progress"


@dataclass(frozen=True)
class ToolProgress:
    """How far the call `tool_call_id` is: `progress` of `total` (None: unknown), and a message."""

    tool_call_id: str
    progress: float
    total: float | None = None
    message: str | None = None

    def chunk(self) -> dict[str, Any]:
        """The `data-tool-progress` chunk: `{toolCallId, progress, total, message}`, transient."""
        return {
            "type": PROGRESS_PART,
            "data": {
                "toolCallId": self.tool_call_id,
                "progress": self.progress,
                "total": self.total,
                "message": self.message,
            },
            "transient": True,
        }


def forward_progress(
    emit: Callable[[ToolProgress], Awaitable[None]],
) -> Callable[[str, float, float | None, str | None], Awaitable[None]]:
    """A tool server's progress sink (`(tool call id, progress, total, message)`) that passes each
    report to `emit` as a `ToolProgress`."""

    async def sink(call_id: str, progress: float, total: float | None, message: str | None) -> None:
        await emit(ToolProgress(call_id, progress, total, message))

    return sink


# Receives each SDK stream event of a streamed run, in order, and the progress its tools report.
EventSink = Callable[["StreamEvent | ToolProgress"], Awaitable[None]]
