"""User id -> the name of that user's directory under the files root.

Any string is a possible user id (the JWT's `sub` is the issuer's choice): `/`, `..`, NUL, unicode,
thousands of characters. The directory name must be one safe path component, distinct for distinct
ids, and distinct on case-insensitive file systems too. So:

* `u-<escaped>`: UTF-8 bytes, with `a-z`, `0-9` and `-` kept and every other byte written as `_xx`
  (lowercase hex). Readable for ordinary ids, and injective: `_` is always an escape, so decoding is
  unambiguous. Only characters a case-insensitive file system cannot confuse appear.
* `h-<sha256 hex>` when the escaped form would exceed `MAX_READABLE_CHARS`: SHA-256 of the UTF-8
  bytes (collision-resistant). The `u-`/`h-` prefixes keep the two forms from ever meeting.

Neither form can be `.`, `..`, empty, contain `/` or NUL, or start with a dot.
"""

from __future__ import annotations

import hashlib

READABLE_PREFIX = "u-"
HASHED_PREFIX = "h-"
MAX_READABLE_CHARS = 120
_KEPT = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-")


def space_dir_name(user_id: str) -> str:
    """The directory name of `user_id`'s file space (one safe path component)."""
    raw = user_id.encode("utf-8", "surrogatepass")
    escaped = "".join(chr(byte) if byte in _KEPT else f"_{byte:02x}" for byte in raw)
    if len(escaped) <= MAX_READABLE_CHARS:
        return READABLE_PREFIX + escaped
    return HASHED_PREFIX + hashlib.sha256(raw).hexdigest()


def user_id_of(dir_name: str) -> str | None:
    """The user id a readable directory name encodes; `None` for hashed or foreign names."""
    if not dir_name.startswith(READABLE_PREFIX):
        return None
    body, out, index = dir_name[len(READABLE_PREFIX) :], bytearray(), 0
    while index < len(body):
        char = body[index]
        if char == "_":
            try:
                out.append(int(body[index + 1 : index + 3], 16))
            except ValueError:
                return None
            index += 3
        elif ord(char) in _KEPT:
            out.append(ord(char))
            index += 1
        else:
            return None
    return out.decode("utf-8", "surrogatepass")
