"""The private channel between the API process and the fork template.

One connection per child, on a Unix socket inside a 0700 directory only the API's user can enter:

    API → template   frame {"token": hex, "env": {...}, "cwd": path}
    template → API   frame {"ok": true, "pid": N} carrying two or three fds via SCM_RIGHTS
                     (the child's stdin write end, its stdout read end, then a pidfd of the
                     child where the kernel has them, so the API can signal exactly that
                     process and see it exit), or {"ok": false, "error": code} and no fds.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. The template checks the
peer's uid (SO_PEERCRED) and the token (constant-time) before it forks anything. The token travels
to the template on its stdin, never in argv or the environment (both readable in /proc).

This module is imported by both sides; it must stay free of MCP and Agents SDK imports.
"""

from __future__ import annotations

import json
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 256 * 1024
TOKEN_BYTES = 32
# Reply fds, in this order: stdin write end, stdout read end, and (optional) the child's pidfd.
CHILD_FDS = 2
MAX_CHILD_FDS = 3

# The placeholder identity of the template's own warm-up session; never bound to a served child.
WARM_UP_USER = "chatgate-template-warm-up"

# Process names (Linux `comm`) of the template and its unbound spares, so `ps` and leak checks can
# tell them from tool servers that serve a user (those are named PROCESS_NAME_TOOL_SERVER).
PROCESS_NAME_TEMPLATE = "chatgate-tmpl"
PROCESS_NAME_SPARE = "chatgate-spare"
PROCESS_NAME_TOOL_SERVER = "chatgate-tool"

# Refusal codes (the only detail an unauthenticated peer learns).
ERROR_UNAUTHORIZED = "unauthorized"
ERROR_BAD_REQUEST = "bad_request"
ERROR_FORK_FAILED = "fork_failed"


class ProtocolError(ValueError):
    """A frame that is not what the protocol says."""


def encode_frame(payload: dict[str, Any]) -> bytes:
    """Length-prefixed JSON for `payload`.

    Raises:
        ProtocolError: the frame would exceed `MAX_FRAME_BYTES`.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME_BYTES:
        raise ProtocolError("frame too large")
    return HEADER.pack(len(body)) + body


def split_frame(buffer: bytes | bytearray) -> tuple[dict[str, Any], int] | None:
    """The first complete frame in `buffer` and its total size, or None when more bytes are needed.

    Raises:
        ProtocolError: a declared length over the limit, or a body that is not a JSON object.
    """
    if len(buffer) < HEADER.size:
        return None
    (length,) = HEADER.unpack_from(buffer)
    if length > MAX_FRAME_BYTES:
        raise ProtocolError("frame too large")
    end = HEADER.size + length
    if len(buffer) < end:
        return None
    try:
        payload = json.loads(bytes(buffer[HEADER.size : end]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("frame is not JSON") from exc
    if not isinstance(payload, dict):
        raise ProtocolError("frame is not a JSON object")
    return payload, end


def is_str_map(value: object) -> bool:
    """True for a JSON object of strings to strings (an environment, as a frame carries it)."""
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
