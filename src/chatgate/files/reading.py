"""Reading an open, already-vetted file descriptor as text: by lines or by bytes, under a size cap.

Results carry a `truncated` note whenever the content shown stops before the end of the file, saying
exactly how to continue, so the model never mistakes a slice for the whole file.
"""

from __future__ import annotations

import os
from typing import Any

from chatgate.files.limits import human_bytes
from chatgate.files.text import has_invalid_utf8, skip_utf8_continuations, trim_utf8_end

_SKIP_CHUNK = 64 * 1024
INVALID_UTF8_NOTE = "bytes that are not valid UTF-8 were replaced with U+FFFD"


def read_bytes(fd: int, size: int, offset: int, limit: int | None, cap: int) -> dict[str, Any]:
    """Bytes `offset`..`offset+limit` (at most `cap`), moved to whole UTF-8 characters.

    Returns `{"content": str, "unit": "bytes", "offset": int (where content starts), "size": int (the
    file's bytes), "invalid_utf8"?: str, "truncated"?: str (how to read on)}`.
    """
    data = os.pread(fd, min(limit or cap, cap), offset)
    start = offset + (skip := skip_utf8_continuations(data) if offset else 0)
    data = data[skip:]
    if start + len(data) < size:
        data = trim_utf8_end(data) or data  # a limit smaller than one character still shows it, mangled
    end = start + len(data)
    result: dict[str, Any] = {"content": data.decode("utf-8", "replace"), "unit": "bytes", "offset": start}
    result["size"] = size
    if has_invalid_utf8(data):
        result["invalid_utf8"] = INVALID_UTF8_NOTE
    if end < size:
        result["truncated"] = f"showing bytes {start}-{end} of {size}; call again with offset={end} for more"
    return result


def read_lines(fd: int, size: int, offset: int, limit: int | None, cap: int) -> dict[str, Any]:
    """Lines `offset`..`offset+limit` (0-based, at most `cap` bytes in total).

    Returns `{"content": str, "unit": "lines", "offset": int, "lines": int (lines returned), "size":
    int (the file's bytes), "note"?: str, "invalid_utf8"?: str, "truncated"?: str (how to read on)}`.
    """
    with open(os.dup(fd), "rb", closefd=True) as reader:  # noqa: PTH123 - an fd, not a path
        line_no = position = 0
        while line_no < offset:
            chunk = reader.readline(_SKIP_CHUNK)
            if not chunk:
                break
            position += len(chunk)
            line_no += chunk.endswith(b"\n")
        out = bytearray()
        taken = 0
        note: str | None = None
        while limit is None or taken < limit:
            line = reader.readline(cap - len(out) + 1)
            if not line:
                break
            if len(out) + len(line) > cap:
                if taken == 0:  # one line longer than the cap: show its start, point at bytes mode
                    part = trim_utf8_end(line[: cap - len(out)])
                    out += part
                    note = (
                        f"line {offset + 1} is longer than the {human_bytes(cap)} read cap; read the rest "
                        f"with unit='bytes' and offset={position + len(part)}"
                    )
                else:
                    note = (
                        f"stopped at the {human_bytes(cap)} read cap after {taken} lines; call again with "
                        f"offset={offset + taken} to continue"
                    )
                break
            out += line
            position += len(line)
            taken += 1
        else:
            if reader.peek(1):
                last = offset + taken - 1
                note = f"showing lines {offset}-{last}; call again with offset={offset + taken} for more"
    result: dict[str, Any] = {"content": out.decode("utf-8", "replace"), "unit": "lines", "offset": offset}
    result.update({"lines": taken, "size": size})
    if line_no < offset:
        result["note"] = f"the file has only {line_no} lines"
    if has_invalid_utf8(bytes(out)):
        result["invalid_utf8"] = INVALID_UTF8_NOTE
    if note:
        result["truncated"] = note
    return result
