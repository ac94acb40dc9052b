"""Keeping a credential out of what the model sees of an upstream answer.

An upstream may echo the request back (a debug endpoint, an error page quoting the header). Every
path from upstream text to the model — the body, an error excerpt, the content type — goes through
here, and always in this order: redact first, cut second. The text is read a little past the cut
(`slack`), so a secret straddling the cut is seen whole and replaced; and whatever the text ends
with at the cut, if it is the beginning of a secret, is treated as the secret. No prefix of a
credential survives a cut, however the upstream pads its answer.

The secret is matched as sent and in the spellings an echo commonly uses: JSON-escaped (with and
without `\\/`) and percent-encoded.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

REDACTED = "[redacted]"
_REDACTED_BYTES = REDACTED.encode()


def secret_forms(secret: str | None) -> tuple[bytes, ...]:
    """The UTF-8 spellings of `secret` an upstream might echo, longest first; empty without one."""
    if not secret:
        return ()
    escaped = json.dumps(secret)[1:-1]
    forms = {secret, escaped, escaped.replace("/", "\\/"), quote(secret, safe="")}
    return tuple(sorted((form.encode() for form in forms), key=len, reverse=True))


def slack(forms: tuple[bytes, ...]) -> int:
    """How many bytes past a cut must be read so a secret straddling it is seen whole."""
    return max((len(form) for form in forms), default=0)


def redact_and_cut(data: bytes, forms: tuple[bytes, ...], limit: int) -> bytes:
    """`data` with every secret form replaced, then cut to about `limit` bytes of the original.

    An occurrence that starts before the cut is replaced whole (its marker is kept); after the cut,
    the longest ending that is a beginning of a secret form is replaced too. Pass all the bytes
    that were read (at least `limit + slack(forms)` when more exist) so occurrences across the cut
    are found.
    """
    if not forms:
        return data[:limit]
    end = min(limit, len(data))
    # Next occurrence of each form at or after `position`; found again only once passed.
    upcoming = {form: data.find(form) for form in forms}
    out = bytearray()
    position = 0
    while position < end:
        found = [(index, -len(form), form) for form, index in upcoming.items() if 0 <= index < end]
        if not found:
            out += data[position:end]
            break
        index, _, form = min(found)
        out += data[position:index] + _REDACTED_BYTES
        position = index + len(form)
        for other, at in upcoming.items():
            if 0 <= at < position:
                upcoming[other] = data.find(other, position)
    if len(data) > limit:
        _redact_cut_prefix(out, forms)
    return bytes(out)


def redact_text(text: str, secret: str | None, limit: int | None = None) -> str:
    """`text` redacted, then cut to `limit` characters (the same rules as `redact_and_cut`)."""
    forms = tuple(form.decode() for form in secret_forms(secret))
    for form in forms:
        text = text.replace(form, REDACTED)
    if limit is None or len(text) <= limit:
        return text
    kept = text[:limit]
    for length in range(min(len(kept), max(map(len, forms), default=0)), 0, -1):
        if any(form.startswith(kept[-length:]) for form in forms):
            return kept[:-length] + REDACTED
    return kept


def redact(value: Any, secret: str | None) -> Any:
    """`value` (parsed JSON) with every occurrence of `secret` in its strings replaced."""
    if not secret:
        return value
    if isinstance(value, str):
        return redact_text(value, secret)
    if isinstance(value, list):
        return [redact(item, secret) for item in value]
    if isinstance(value, dict):
        return {redact(key, secret): redact(item, secret) for key, item in value.items()}
    return value


def _redact_cut_prefix(out: bytearray, forms: tuple[bytes, ...]) -> None:
    longest = min(len(out), slack(forms))
    for length in range(longest, 0, -1):
        ending = bytes(out[-length:])
        if any(form.startswith(ending) for form in forms):
            del out[-length:]
            out += _REDACTED_BYTES
            return
