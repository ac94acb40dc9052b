"""Lone UTF-16 surrogates: replaced with U+FFFD wherever text enters chatgate.

JSON may spell a lone surrogate (`"hi \\ud83d"`, half an emoji cut at a UTF-16 boundary by a
JavaScript client or a model's tokenizer). Python decodes it into a `str` that cannot be encoded
as UTF-8, so it would fail much later, far from where it came in (storing history, calling a tool,
writing the response). Every entry point therefore replaces lone surrogates with U+FFFD (the
replacement character), and joins a well-formed high+low pair into the character it spells:
request bodies (`chatgate.api.schemas`), model output and tool arguments (`chatgate.model_wire`),
stored history read back (`chatgate.conversations.history`), and what the storage tools write
(`chatgate.storage.documents.check_document`, the declared tables' text columns).

Why replace rather than refuse with 422: it is what a browser's `TextEncoder` does with the same
string, so a client that had encoded UTF-8 itself would have sent exactly this; and one broken
character should not cost the user their message or the model its answer. Values that must arrive
exactly are not text in this sense and are refused, never rewritten: a credential (422), a token's
user id (401; two different ids must never become one).
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def replace_lone_surrogates(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD and each surrogate pair joined."""
    if not has_surrogate(text):
        return text
    # UTF-16 round trip: pairs decode to their character, anything unpaired to U+FFFD.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def without_lone_surrogates(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, strings, scalars) with every string, key included, cleaned.

    Returns `value` itself when nothing needed replacing, so the common case copies nothing.
    """
    if isinstance(value, str):
        return replace_lone_surrogates(value)
    if isinstance(value, dict):
        pairs = [(without_lone_surrogates(key), without_lone_surrogates(item)) for key, item in value.items()]
        unchanged = zip(pairs, value.items(), strict=True)
        if all(new[0] is key and new[1] is item for new, (key, item) in unchanged):
            return value
        return dict(pairs)
    if isinstance(value, list):
        items = [without_lone_surrogates(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value
