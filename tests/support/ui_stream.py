"""A strict checker of the AI SDK UI message stream protocol (what `useChat` accepts).

Field sets follow `ui-message-chunks.ts` in vercel/ai: every chunk must carry its required fields and
nothing outside the allowed ones; ids must pair up; order must be what the client state machine expects.
"""

from __future__ import annotations

import json
from typing import Any

REQUIRED: dict[str, set[str]] = {
    "start": set(),
    "start-step": set(),
    "finish-step": set(),
    "finish": set(),
    "error": {"errorText"},
    "text-start": {"id"},
    "text-delta": {"id", "delta"},
    "text-end": {"id"},
    # `dynamic`: chatgate's tools are not declared by the client, so they become `dynamic-tool` parts.
    "tool-input-start": {"toolCallId", "toolName", "dynamic"},
    "tool-input-available": {"toolCallId", "toolName", "input", "dynamic"},
    "tool-output-available": {"toolCallId", "output", "dynamic"},
    "tool-output-error": {"toolCallId", "errorText", "dynamic"},
    # A resumed stream of a run whose client left ends with `abort` (AI SDK 5 and later).
    "abort": set(),
}
OPTIONAL: dict[str, set[str]] = {"start": {"messageId", "messageMetadata"}, "finish": {"messageMetadata"}}


class ProtocolError(AssertionError):
    pass


def parse_sse(body: str) -> tuple[list[dict[str, Any]], int]:
    """The JSON chunks of an SSE body (which must end with `[DONE]`) and the number of comment lines."""
    chunks: list[dict[str, Any]] = []
    comments = 0
    done = False
    for event in body.split("\n\n"):
        if not event.strip():
            continue
        if event.startswith(":"):
            comments += 1
            continue
        if done:
            raise ProtocolError(f"data after [DONE]: {event!r}")
        if not event.startswith("data: "):
            raise ProtocolError(f"not a data event: {event!r}")
        payload = event[len("data: ") :]
        if payload == "[DONE]":
            done = True
            continue
        chunks.append(json.loads(payload))
    if not done:
        raise ProtocolError("stream did not end with data: [DONE]")
    return chunks, comments


def check_chunks(chunks: list[dict[str, Any]]) -> None:
    """Raise `ProtocolError` unless `chunks` is a valid message stream."""
    if not chunks or chunks[0]["type"] != "start":
        raise ProtocolError("first chunk must be start")
    last = chunks[-1]["type"]
    if last not in ("finish", "error", "abort"):
        raise ProtocolError(f"stream must end with finish, error or abort, not {last}")
    open_text: str | None = None
    in_step = False
    tools: dict[str, str] = {}  # call id -> state
    for index, chunk in enumerate(chunks):
        kind = chunk.get("type")
        if kind not in REQUIRED:
            raise ProtocolError(f"unknown chunk type {kind!r}")
        fields = set(chunk) - {"type"}
        missing = REQUIRED[kind] - fields
        extra = fields - REQUIRED[kind] - OPTIONAL.get(kind, set())
        if missing or extra:
            raise ProtocolError(f"chunk {index} {kind}: missing {missing or '{}'}, extra {extra or '{}'}")
        if "dynamic" in fields and chunk["dynamic"] is not True:
            raise ProtocolError(f"chunk {index} {kind}: dynamic must be true")
        if kind == "start" and index != 0:
            raise ProtocolError("start must come first, once")
        if kind == "start-step":
            if in_step:
                raise ProtocolError("start-step inside a step")
            in_step = True
        elif kind == "finish-step":
            if not in_step or open_text:
                raise ProtocolError("finish-step outside a step or with open text")
            in_step = False
        elif kind == "text-start":
            if open_text or not in_step:
                raise ProtocolError("text-start while text is open or outside a step")
            open_text = chunk["id"]
        elif kind in ("text-delta", "text-end"):
            if chunk["id"] != open_text:
                raise ProtocolError(f"{kind} for {chunk['id']} but open text is {open_text}")
            if kind == "text-end":
                open_text = None
        elif kind == "tool-input-start":
            if chunk["toolCallId"] in tools or not in_step:
                raise ProtocolError("tool-input-start repeated or outside a step")
            tools[chunk["toolCallId"]] = "started"
        elif kind == "tool-input-available":
            if tools.get(chunk["toolCallId"]) != "started":
                raise ProtocolError("tool-input-available without tool-input-start")
            tools[chunk["toolCallId"]] = "input"
        elif kind in ("tool-output-available", "tool-output-error"):
            if tools.get(chunk["toolCallId"]) != "input":
                raise ProtocolError(f"{kind} for a call without input")
            tools[chunk["toolCallId"]] = "done"
        elif kind == "finish" and (in_step or open_text):
            raise ProtocolError("finish with an open step or text")
    if last == "finish" and any(state != "done" for state in tools.values()):
        raise ProtocolError(f"tool calls without output: {tools}")
