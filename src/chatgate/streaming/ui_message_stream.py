"""The AI SDK "UI message stream" protocol (what `useChat` parses), built from Agents SDK stream events.

The client validates every chunk as a strict object, so each chunk carries exactly the protocol's
required fields and nothing else (optional fields that some AI SDK versions lack are never sent).
Order within one message:

    start, (start-step, [text-start, text-delta…, text-end], [tool-input-start, tool-input-available,
    data-tool-progress…, tool-output-available | tool-output-error]…, finish-step)…, finish | error,
    then `data: [DONE]`.

A run that stops for the user's approval ends its last step with one `tool-approval-request` per
waiting call (after its `tool-input-available`). The answer continues in a later response for the
same message: the decided calls' results come first (`tool-output-denied` for a call that did not
run), then the next steps.

Tool chunks carry `dynamic: true` (in every AI SDK version since 5.0); `start` announces the answer's
message id, under which the answer is stored (`conversations.message_index`). A resumed stream
(`streaming/run_buffer.py`) of a run cut off ends with `abort` instead.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from agents.items import ToolCallItem, ToolCallOutputItem
from agents.stream_events import RawResponsesStreamEvent, RunItemStreamEvent, StreamEvent

from chatgate.streaming.progress import ToolProgress
from chatgate.tool_outcomes import TOOL_OK_KEY

Chunk = dict[str, Any]

SSE_HEADERS = {
    "cache-control": "no-cache, no-transform",
    "x-vercel-ai-ui-message-stream": "v1",
    # Tell nginx-style proxies not to buffer: deltas must reach the browser as they are produced.
    "x-accel-buffering": "no",
}
DONE_LINE = "data: [DONE]\n\n"
KEEPALIVE_LINE = ": keep-alive\n\n"
TOOL_FAILED_TEXT = "The tool failed."


def sse(chunk: Chunk) -> str:
    """One Server-Sent Event carrying `chunk` as JSON."""
    return f"data: {json.dumps(chunk, separators=(',', ':'), ensure_ascii=False)}\n\n"


class UiMessageStreamEncoder:
    """Turns the events of one agent run into protocol chunks; one instance per response."""

    def __init__(self, message_id: str | None = None) -> None:
        self.message_id = message_id or f"msg_{uuid.uuid4().hex}"
        self._in_step = False
        self._text_id: str | None = None
        self._text_count = 0
        self._announced_calls: set[str] = set()
        self._denied_calls: set[str] = set()
        self._replayed_calls: set[str] = set()

    def start(self) -> list[Chunk]:
        return [{"type": "start", "messageId": self.message_id}]

    def continuing(
        self, call_ids: Iterable[str], denied: Iterable[str], replayed: Iterable[str] = ()
    ) -> None:
        """This response continues a message whose calls `call_ids` were announced earlier and wait
        for their results; those in `denied` did not run (`tool-output-denied`); those in `replayed`
        ran in an earlier attempt, whose stored output they get again (`tool-output-available`)."""
        self._announced_calls.update(call_ids)
        self._denied_calls.update(denied)
        self._replayed_calls.update(replayed)

    def approval_requests(self, approvals: Iterable[tuple[str, str]]) -> list[Chunk]:
        """One `tool-approval-request` per `(approval id, tool call id)`; the step ends after them."""
        return [
            {"type": "tool-approval-request", "approvalId": approval_id, "toolCallId": call_id}
            for approval_id, call_id in approvals
            if call_id in self._announced_calls
        ]

    def on_event(self, event: StreamEvent | ToolProgress) -> list[Chunk]:
        if isinstance(event, ToolProgress):
            return [event.chunk()] if event.tool_call_id in self._announced_calls else []
        if isinstance(event, RawResponsesStreamEvent):
            return self._on_raw(event.data)
        if isinstance(event, RunItemStreamEvent):
            if event.name == "tool_called" and isinstance(event.item, ToolCallItem):
                return self._on_tool_called(event.item)
            if event.name == "tool_output" and isinstance(event.item, ToolCallOutputItem):
                return self._on_tool_output(event.item)
        return []

    def finish(self) -> list[Chunk]:
        return [*self._close_step(), {"type": "finish"}]

    def error(self, message: str) -> list[Chunk]:
        """The run failed: close what is open, then tell the client (no `finish` follows an error)."""
        return [*self._close_text(), {"type": "error", "errorText": message}]

    def abort(self) -> list[Chunk]:
        """The run was cut off (its client left): close the open text, then `abort`. Only readers
        resuming the stream get these; the client that left gets nothing more."""
        return [*self._close_text(), {"type": "abort"}]

    # -- internals ---------------------------------------------------------------------------------

    def _on_raw(self, data: Any) -> list[Chunk]:
        kind = getattr(data, "type", "")
        if kind == "response.created":
            # A new model call is a new step; tool results of the previous step were already sent.
            chunks = self._close_step()
            self._in_step = True
            return [*chunks, {"type": "start-step"}]
        if kind == "response.output_text.delta":
            delta = getattr(data, "delta", "")
            if not delta:
                return []
            chunks = self._open_text()
            chunks.append({"type": "text-delta", "id": self._text_id, "delta": delta})
            return chunks
        if kind in ("response.output_text.done", "response.output_item.done", "response.completed"):
            return self._close_text()
        return []

    def _ensure_step(self) -> list[Chunk]:
        if self._in_step:
            return []
        self._in_step = True
        return [{"type": "start-step"}]

    def _open_text(self) -> list[Chunk]:
        chunks = self._ensure_step()
        if self._text_id is None:
            self._text_count += 1
            self._text_id = f"{self.message_id}_text_{self._text_count}"
            chunks.append({"type": "text-start", "id": self._text_id})
        return chunks

    def _close_text(self) -> list[Chunk]:
        if self._text_id is None:
            return []
        chunk = {"type": "text-end", "id": self._text_id}
        self._text_id = None
        return [chunk]

    def _close_step(self) -> list[Chunk]:
        chunks = self._close_text()
        if self._in_step:
            chunks.append({"type": "finish-step"})
            self._in_step = False
        return chunks

    def _on_tool_called(self, item: ToolCallItem) -> list[Chunk]:
        call_id = str(getattr(item.raw_item, "call_id", "") or "")
        name = str(getattr(item.raw_item, "name", "") or "tool")
        if not call_id or call_id in self._announced_calls:
            return []
        self._announced_calls.add(call_id)
        chunks = [*self._close_text(), *self._ensure_step()]
        # `dynamic`: the client did not declare these tools (they are the tool server's), so `useChat`
        # builds `dynamic-tool` parts with `toolName`, as for the AI SDK's own MCP tools.
        chunks.append({"type": "tool-input-start", "toolCallId": call_id, "toolName": name, "dynamic": True})
        chunks.append(
            {
                "type": "tool-input-available",
                "toolCallId": call_id,
                "toolName": name,
                "input": parse_arguments(getattr(item.raw_item, "arguments", "")),
                "dynamic": True,
            }
        )
        return chunks

    def _on_tool_output(self, item: ToolCallOutputItem) -> list[Chunk]:
        raw = item.raw_item
        call_id = str((raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", "")) or "")
        if call_id not in self._announced_calls:
            return []
        if call_id in self._denied_calls:
            return [{"type": "tool-output-denied", "toolCallId": call_id}]
        text = _output_text(item.output)
        if call_id in self._replayed_calls or (item.custom_data or {}).get(TOOL_OK_KEY, False):
            return [
                {
                    "type": "tool-output-available",
                    "toolCallId": call_id,
                    "output": maybe_json(text),
                    "dynamic": True,
                }
            ]
        return [
            {
                "type": "tool-output-error",
                "toolCallId": call_id,
                "errorText": text or TOOL_FAILED_TEXT,
                "dynamic": True,
            }
        ]


def parse_arguments(arguments: Any) -> Any:
    """A tool call's JSON arguments as a value (`{}` when empty, `{"_raw": text}` when not JSON)."""
    if not isinstance(arguments, str) or not arguments:
        return {}
    try:
        return json.loads(arguments)
    except json.JSONDecodeError:
        return {"_raw": arguments}


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        return str(output.get("text", ""))
    if isinstance(output, Iterable):
        return "".join(_output_text(part) for part in output)
    return str(output)


def maybe_json(text: str) -> Any:
    """A tool's output text as the JSON value it holds, else the text itself."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return text
