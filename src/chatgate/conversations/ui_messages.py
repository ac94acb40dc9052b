"""A stored thread as the AI SDK's `UIMessage` list: what `useChat` shows, and restores from.

    {"id", "role": "user" | "assistant", "metadata": {"created_at", "interrupted"?: true},
     "parts": [{"type": "text", "text"}, {"type": "file", "mediaType", "url", "filename"?},
               {"type": "step-start"},
               {"type": "dynamic-tool", "toolName", "toolCallId", "state": "output-available",
                "input", "output", "approval"?: {"id", "approved": true}}
               | {…, "state": "output-error", "input", "errorText"}
               | {…, "state": "output-denied", "input", "approval": {"id", "approved": false, "reason"?}}]}

The parts match what the same answer produced while it streamed (`streaming.ui_message_stream`):
a `step-start` per model call, one text part per text the model wrote, one `dynamic-tool` part per
tool call. Like the history the model reads, a tool call without its output (a run cut off while
the tool ran) is left out, and lone surrogates become U+FFFD. A call that waited for the user's
approval carries it (`approval`), as `useChat` had it: a call the user did not approve (denied,
expired, or superseded by a new message) is `output-denied`, as AI SDK 6+ shows it. Calls still
waiting are not in the history yet: the route adds them (`chatgate.approvals.ui_parts`).
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chatgate.attachments import ATTACHED_NOTE
from chatgate.conversations.history import content_text
from chatgate.conversations.message_index import ASSISTANT, StoredMessage
from chatgate.streaming.ui_message_stream import TOOL_FAILED_TEXT, maybe_json, parse_arguments
from chatgate.surrogates import without_lone_surrogates

Part = dict[str, Any]


@dataclass(frozen=True)
class AnsweredCall:
    """A tool call the user was asked to approve, and the answer (`chatgate.approvals` turns its
    approvals into these): `approved` is whether it was allowed to run."""

    tool_call_id: str
    tool: str
    approval_id: str
    approved: bool
    reason: str | None = None


_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)[;,]")
_MODEL_OUTPUT = ("message", "function_call", "reasoning")


def ui_messages(thread: list[StoredMessage], approvals: Sequence[AnsweredCall] = ()) -> list[dict[str, Any]]:
    """`thread` as `UIMessage`s, in order; answers that kept nothing to show are left out.
    `approvals`: the conversation's answered approvals, oldest first."""
    shown: list[dict[str, Any]] = []
    call_ids: set[str] = set()
    answered: defaultdict[str, deque[AnsweredCall]] = defaultdict(deque)
    for approval in approvals:
        answered[approval.tool_call_id].append(approval)
    for message in thread:
        if message.role == ASSISTANT:
            parts = _answer_parts(message, call_ids, answered)
        else:
            parts = _user_parts(message)
        if message.role == ASSISTANT and all(part["type"] == "step-start" for part in parts):
            continue
        metadata: dict[str, Any] = {"created_at": message.created_at.isoformat()}
        if message.interrupted:
            metadata["interrupted"] = True
        shown.append({"id": message.id, "role": message.role, "metadata": metadata, "parts": parts})
    result: list[dict[str, Any]] = without_lone_surrogates(shown)
    return result


def _user_parts(message: StoredMessage) -> list[Part]:
    parts: list[Part] = []
    for stored in message.items:
        content = stored.item.get("content")
        if isinstance(content, str):
            parts.append({"type": "text", "text": content})
        elif isinstance(content, list):
            parts.extend(_attachment_parts(content))
    return parts or [{"type": "text", "text": ""}]


def _attachment_parts(content: list[Any]) -> list[Part]:
    """Content pieces as parts; an attachment's note (`chatgate.attachments`) is its file part,
    served by the files API, and the image input given to the model beside it is not shown twice."""
    parts: list[Part] = []
    after_note = False
    for piece in content:
        text = piece.get("text") if isinstance(piece, dict) and piece.get("type") == "input_text" else None
        note = ATTACHED_NOTE.fullmatch(text) if parts and isinstance(text, str) else None
        shown_beside = after_note and isinstance(piece, dict) and piece.get("type") == "input_image"
        if note is not None:
            path = note.group(1)
            url = f"/api/files/{path}"
            parts.append(
                {"type": "file", "mediaType": note.group(2), "filename": path.rsplit("/", 1)[-1], "url": url}
            )
        elif not shown_beside and (part := _content_part(piece)) is not None:
            parts.append(part)
        after_note = note is not None
    return parts


def _content_part(piece: Any) -> Part | None:
    """A user content piece (Responses API input) as a UI part: text, or an image or file as `file`."""
    if not isinstance(piece, dict):
        return None
    kind = piece.get("type")
    if kind in ("input_text", "text", "output_text"):
        return {"type": "text", "text": str(piece.get("text", ""))}
    url = piece.get("image_url") if kind == "input_image" else piece.get("file_data") or piece.get("file_url")
    if kind not in ("input_image", "input_file") or not isinstance(url, str):
        return None
    media = _DATA_URL.match(url)
    part: Part = {
        "type": "file",
        "mediaType": media.group(1) if media else "application/octet-stream",
        "url": url,
    }
    if isinstance(piece.get("filename"), str):
        part["filename"] = piece["filename"]
    return part


def _answer_parts(
    message: StoredMessage, call_ids: set[str], answered: defaultdict[str, deque[AnsweredCall]]
) -> list[Part]:
    """Text and tool parts in order, with a `step-start` before each model call's output."""
    parts: list[Part] = []
    waiting: defaultdict[str, deque[Part]] = defaultdict(deque)  # call id -> parts awaiting output
    asked: dict[int, AnsweredCall] = {}  # id(part) -> the approval its call waited for
    new_step = True
    for stored in message.items:
        item = stored.item
        kind = item.get("type", "message" if "role" in item else None)
        if kind in _MODEL_OUTPUT and new_step:
            parts.append({"type": "step-start"})
            new_step = False
        if kind == "message":
            parts.extend(_answer_text(item.get("content")))
        elif kind == "function_call":
            call_id = str(item.get("call_id") or "")
            # Unique across the thread even where a provider reused ids (`whoami:0` every turn).
            shown_id = call_id if call_id and call_id not in call_ids else f"{call_id}_{stored.row}"
            call_ids.add(shown_id)
            part: Part = {
                "type": "dynamic-tool",
                "toolName": str(item.get("name") or "tool"),
                "toolCallId": shown_id,
                "state": "input-available",
                "input": parse_arguments(item.get("arguments")),
            }
            queue = answered[call_id]
            if queue and queue[0].tool == part["toolName"]:
                asked[id(part)] = queue.popleft()
            waiting[call_id].append(part)
            parts.append(part)
        elif kind == "function_call_output":
            call_id = str(item.get("call_id") or "")
            if waiting[call_id]:
                done = waiting[call_id].popleft()
                output = content_text(item.get("output"))
                _complete(done, output, call_id in message.failed_calls, asked.get(id(done)))
            new_step = True
    # Calls whose output never came (cut off) are not shown, as the model does not see them either.
    return [part for part in parts if part.get("state") != "input-available"]


def _complete(part: Part, output: str, failed: bool, approval: AnsweredCall | None) -> None:
    if approval is not None and not approval.approved:
        denied: Part = {"id": approval.approval_id, "approved": False}
        if approval.reason:
            denied["reason"] = approval.reason
        part.update(state="output-denied", approval=denied)
        return
    if failed:
        part.update(state="output-error", errorText=output or TOOL_FAILED_TEXT)
    else:
        part.update(state="output-available", output=maybe_json(output))
    if approval is not None:
        part["approval"] = {"id": approval.approval_id, "approved": True}


def _answer_text(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        return []
    texts = [
        str(piece.get("text") or piece.get("refusal") or "")
        for piece in content
        if isinstance(piece, dict) and piece.get("type") in ("output_text", "refusal", "text")
    ]
    text = "".join(texts)
    return [{"type": "text", "text": text}] if text else []
