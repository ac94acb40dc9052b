"""Pure helpers for file contents: binary detection, UTF-8 boundaries, snippets, media types."""

from __future__ import annotations

import mimetypes

BINARY_SAMPLE_BYTES = 8192
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\b\x1b")


def looks_binary(sample: bytes) -> bool:
    """True when `sample` (the start of a file) is not worth showing as text.

    NUL bytes, many control bytes, or invalid UTF-8 in a third of the characters mean binary; a few
    invalid bytes (a Latin-1 "é" in otherwise plain text) do not.
    """
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for byte in sample if byte < 0x20 and byte not in _TEXT_CONTROLS)
    if controls * 10 > len(sample):
        return True
    decoded = trim_utf8_end(sample).decode("utf-8", "replace")
    return decoded.count("\ufffd") * 3 > max(len(decoded), 1)


def has_invalid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def trim_utf8_end(data: bytes) -> bytes:
    """Drop an incomplete multi-byte sequence cut off at the end of `data`."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # continuation byte: keep looking for the lead byte
            continue
        needed = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
        return data[: len(data) - back] if needed > back else data
    return data


def skip_utf8_continuations(data: bytes) -> int:
    """How many leading bytes of `data` continue a character that started before it (at most 3)."""
    count = 0
    while count < min(3, len(data)) and data[count] & 0xC0 == 0x80:
        count += 1
    return count


def snippet(line: str, start: int, width: int) -> str:
    """`line` cut to about `width` characters around the match at `start`."""
    line = line.rstrip("\r\n")
    if len(line) <= width:
        return line
    left = max(0, min(start - width // 3, len(line) - width))
    cut = line[left : left + width]
    return ("…" if left else "") + cut + ("…" if left + width < len(line) else "")


def media_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"
