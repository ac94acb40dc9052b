"""OpenAPI 3 parameter serialisation: a validated argument → the text that goes on the wire.

The rules are the specification's "style values" and "style examples" tables (3.0.3, with the
percent-encoding 3.1.1 made precise). With `color` = "blue", ["blue", "black"] or {"R": 100, "G": 200}:

| style | explode | primitive | array | object |
|---|---|---|---|---|
| simple (path, header) | false | `blue` | `blue,black` | `R,100,G,200` |
| simple | true | `blue` | `blue,black` | `R=100,G=200` |
| label (path) | false | `.blue` | `.blue,black` | `.R,100,G,200` |
| label | true | `.blue` | `.blue.black` | `.R=100.G=200` |
| matrix (path) | false | `;color=blue` | `;color=blue,black` | `;color=R,100,G,200` |
| matrix | true | `;color=blue` | `;color=blue;color=black` | `;R=100;G=200` |
| form (query) | false | `color=blue` | `color=blue,black` | `color=R,100,G,200` |
| form | true | `color=blue` | `color=blue&color=black` | `R=100&G=200` |
| spaceDelimited (query) | false | — | `color=blue%20black` | `color=R%20100%20G%20200` |
| pipeDelimited (query) | false | — | `color=blue%7Cblack` | `color=R%7C100%7CG%7C200` |
| deepObject (query) | — | — | — | `color%5BR%5D=100&color%5BG%5D=200` |

Values are percent-encoded as RFC 3986 components (everything but `A-Za-z0-9-._~`), so a comma
inside a value never reads as a separator; the separators themselves stay literal. With
`allowReserved` (query only) RFC 3986 reserved characters and existing `%XX` triples pass through,
except those that would break the query itself (`#`, `&`, `=`, `+`, `[`, `]`). Header values are
not percent-encoded (the caller checks that they are one printable ASCII line). Combinations the
specification leaves undefined get the nearest defined reading: a primitive in a delimited style is
sent as `form`; `deepObject` ignores `explode` and renders nested objects `a[b][c]=v` and arrays
inside it `a[b][]=v` (what PHP, Rails and `qs` parse); values nested inside an array or a
non-deep object are sent as compact JSON text.

No library covered this: RFC 6570 template libraries (`uritemplate`, `uri-template`) do simple,
label, matrix and form but not `deepObject` or the delimited styles, and OpenAPI libraries
(`openapi-core`) only parse requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

PATH_STYLES = frozenset({"simple", "label", "matrix"})
QUERY_STYLES = frozenset({"form", "spaceDelimited", "pipeDelimited", "deepObject"})
HEADER_STYLES = frozenset({"simple"})
STYLES_BY_LOCATION = {"path": PATH_STYLES, "query": QUERY_STYLES, "header": HEADER_STYLES}
DEFAULT_STYLE = {"path": "simple", "query": "form", "header": "simple"}

_UNRESERVED = "-._~"  # with letters and digits, which `quote` never encodes
# RFC 3986 reserved characters that may stand literally inside a query value.
_RESERVED_IN_QUERY = ":/?@!$'()*,;"
_TRIPLE = re.compile(r"(%[0-9A-Fa-f]{2})")
_DELIMITERS = {"spaceDelimited": "%20", "pipeDelimited": "%7C"}


def default_explode(style: str) -> bool:
    """`explode` when the document does not say: true for `form`, false for every other style."""
    return style == "form"


def encode(text: str, *, allow_reserved: bool = False) -> str:
    """`text` percent-encoded (UTF-8) as one URI component."""
    if not allow_reserved:
        return quote(text, safe=_UNRESERVED)
    # Existing triples pass through; a lone `%` is encoded like any other character.
    return "".join(
        part if _TRIPLE.fullmatch(part) else quote(part, safe=_UNRESERVED + _RESERVED_IN_QUERY)
        for part in _TRIPLE.split(text)
    )


def scalar(value: Any) -> str:
    """One value as text: JSON's spelling for booleans and null, compact JSON for nested values."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def path_value(style: str, explode: bool, name: str, value: Any) -> str:
    """What replaces `{name}` in the path template (already percent-encoded)."""
    if style == "label":
        prefix, joiner = ".", "." if explode else ","
        return prefix + joiner.join(_items(value, explode, encode))
    if style == "matrix":
        key = encode(name)
        if isinstance(value, list) and explode:
            return "".join(_matrix(key, encode(scalar(item))) for item in value) or f";{key}"
        if isinstance(value, dict) and explode:
            return "".join(_matrix(encode(k), encode(scalar(v))) for k, v in value.items()) or f";{key}"
        return _matrix(key, ",".join(_items(value, False, encode)))
    return ",".join(_items(value, explode, encode))


def query_pairs(style: str, explode: bool, allow_reserved: bool, name: str, value: Any) -> list[str]:
    """`key=value` pairs (already percent-encoded) for one query parameter or form field."""

    def enc(text: str) -> str:
        return encode(text, allow_reserved=allow_reserved)

    key = encode(name)
    if style == "deepObject" and isinstance(value, dict):
        return _deep(key, value, enc)
    delimiter = _DELIMITERS.get(style)
    if delimiter is not None and isinstance(value, list | dict) and not explode:
        return [f"{key}={delimiter.join(_items(value, False, enc))}"]
    # form, and the undefined combinations read as form
    if isinstance(value, list):
        if explode:
            return [f"{key}={enc(scalar(item))}" for item in value]
        return [f"{key}={','.join(enc(scalar(item)) for item in value)}"] if value else [f"{key}="]
    if isinstance(value, dict):
        if explode:
            return [f"{encode(k)}={enc(scalar(v))}" for k, v in value.items()]
        return [f"{key}={','.join(_items(value, False, enc))}"]
    return [f"{key}={enc(scalar(value))}"]


def header_value(explode: bool, value: Any) -> str:
    """The `simple`-style text of one header parameter (not percent-encoded)."""
    return ",".join(_items(value, explode, _verbatim))


def _verbatim(text: str) -> str:
    return text


def _items(value: Any, explode: bool, enc: Callable[[str], str]) -> list[str]:
    """The comma-list members of `value`: array items, or an object's `k,v` (`k=v` exploded)."""
    if isinstance(value, list):
        return [enc(scalar(item)) for item in value]
    if isinstance(value, dict):
        if explode:
            return [f"{enc(str(k))}={enc(scalar(v))}" for k, v in value.items()]
        return [part for k, v in value.items() for part in (enc(str(k)), enc(scalar(v)))]
    return [enc(scalar(value))]


def _matrix(key: str, text: str) -> str:
    return f";{key}={text}" if text else f";{key}"


def _deep(prefix: str, value: dict[str, Any], enc: Callable[[str], str]) -> list[str]:
    pairs: list[str] = []
    for k, v in value.items():
        key = f"{prefix}%5B{encode(str(k))}%5D"
        if isinstance(v, dict):
            pairs.extend(_deep(key, v, enc))
        elif isinstance(v, list):
            pairs.extend(f"{key}%5B%5D={enc(scalar(item))}" for item in v)
        else:
            pairs.append(f"{key}={enc(scalar(v))}")
    return pairs
