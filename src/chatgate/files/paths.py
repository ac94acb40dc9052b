"""Validating the paths the model sends. Pure: no file system access here.

A path is relative to the user's space, `/`-separated. What is refused, and why:

* absolute paths (`/etc/passwd`), and `~` at the start: they name places outside the space;
* `..` anywhere, even when it would stay inside (`a/../b`): no lexical resolution to get wrong;
* backslashes: a second separator on other systems, and a classic way to smuggle `..\\`;
* NUL and control characters: truncation and log/terminal injection;
* names over 255 bytes, paths over 1024 bytes or 32 levels;
* names starting with `.chatgate-`: the space's own lock and temporary files.

Percent-encoded forms (`%2e%2e%2f`) are not decoded, so they are ordinary names inside the space.
Empty components and `.` are dropped (`a//./b` is `a/b`); an empty path or `.` is the root.
The file system layer still opens every component with no-follow semantics: this check is the first
line of defense, not the only one.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from chatgate.files.errors import PathRefused
from chatgate.files.limits import MAX_DEPTH, MAX_NAME_BYTES, MAX_PATH_BYTES

RESERVED_PREFIX = ".chatgate-"


@dataclass(frozen=True)
class RelPath:
    """A validated path inside a user's space; `parts == ()` is the root."""

    parts: tuple[str, ...]

    @property
    def display(self) -> str:
        """How the path is shown to the model: relative, `/`-separated, `.` for the root."""
        return "/".join(self.parts) or "."

    @property
    def parent(self) -> RelPath:
        return RelPath(self.parts[:-1])

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else ""

    def child(self, name: str) -> RelPath:
        return RelPath((*self.parts, name))

    def is_within(self, other: RelPath) -> bool:
        """True when this path is `other` or below it."""
        return self.parts[: len(other.parts)] == other.parts


ROOT = RelPath(())


def parse_path(raw: object, *, allow_root: bool = False) -> RelPath:
    """Validate `raw` as a path inside the space.

    Raises:
        PathRefused: with a reason that does not echo the raw value.
    """
    if not isinstance(raw, str):
        raise PathRefused("the path must be a string")
    if raw.startswith(("/", "~")):
        raise PathRefused("use a path relative to your files (like notes/todo.md), not an absolute one")
    if "\\" in raw:
        raise PathRefused("use / to separate folders; backslashes are not allowed in paths")
    if any(_is_control(char) for char in raw):
        raise PathRefused("the path contains NUL or control characters")
    try:
        encoded_length = len(raw.encode("utf-8"))
    except UnicodeEncodeError:
        raise PathRefused("the path is not valid unicode") from None
    if encoded_length > MAX_PATH_BYTES:
        raise PathRefused(f"the path is longer than {MAX_PATH_BYTES} bytes")
    parts = tuple(part for part in raw.split("/") if part not in ("", "."))
    if ".." in parts:
        raise PathRefused("'..' is not allowed in paths; name the file from the top of your files")
    if len(parts) > MAX_DEPTH:
        raise PathRefused(f"the path is deeper than {MAX_DEPTH} folders")
    for part in parts:
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise PathRefused(f"a name in the path is longer than {MAX_NAME_BYTES} bytes")
        if part.startswith(RESERVED_PREFIX):
            raise PathRefused(f"names starting with {RESERVED_PREFIX} are reserved")
    if not parts and not allow_root:
        raise PathRefused("name a file or folder, not the top of your files")
    return RelPath(parts)


def is_reserved(name: str) -> bool:
    """True for the space's own entries, which are never listed, searched or counted."""
    return name.startswith(RESERVED_PREFIX)


_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(char: str) -> bool:
    # Cc covers C0, DEL and C1. Line/paragraph separators and bidi overrides are how a name is made
    # to display as something else, so they are refused as well.
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS
