"""Bounded search of a folder tree: names and text lines, by substring or glob, case-insensitively.

Globs support `*` (any run of characters) and `?` (one character). They are matched segment by
segment (split at `*`, leftmost first), which is linear in the text: no regular expression with
nested wildcards that a crafted pattern could make backtrack for minutes.
Names must match the whole glob (`*.md`); text lines need only contain it (`Berlin*trip`).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from chatgate.files.errors import FileSpaceError
from chatgate.files.limits import (
    SEARCH_DEFAULT_RESULTS,
    SEARCH_MAX_FILES,
    SEARCH_MAX_MATCHES_PER_FILE,
    SEARCH_MAX_QUERY_CHARS,
    SEARCH_MAX_RESULTS,
    SEARCH_MAX_SCAN_BYTES,
    SEARCH_SNIPPET_CHARS,
    WALK_MAX_DEPTH,
    FileLimits,
)
from chatgate.files.paths import RelPath
from chatgate.files.text import BINARY_SAMPLE_BYTES, looks_binary, snippet
from chatgate.files.walk import kind_of, open_file, walk_tree

SearchScope = Literal["all", "names", "contents"]
_FLAGS = re.IGNORECASE | re.DOTALL


@dataclass(frozen=True)
class Pattern:
    """A query compiled to fixed-length segments separated by `*`."""

    segments: tuple[re.Pattern[str], ...]
    lengths: tuple[int, ...]

    @classmethod
    def compile(cls, query: str, *, glob: bool) -> Pattern:
        pieces = query.split("*") if glob else [query]
        segments = tuple(
            re.compile("".join("." if glob and char == "?" else re.escape(char) for char in piece), _FLAGS)
            for piece in pieces
        )
        return cls(segments, tuple(len(piece) for piece in pieces))

    def find(self, text: str) -> int | None:
        """Where the first match starts in `text`, or `None` (the pattern may match anywhere)."""
        start, position = None, 0
        for segment in self.segments:
            found = segment.search(text, position)
            if found is None:
                return None
            start = found.start() if start is None else start
            position = found.end()
        return start

    def fullmatch(self, text: str) -> bool:
        """True when the whole of `text` matches (a name against `*.md`)."""
        first, last = self.segments[0], self.segments[-1]
        if len(self.segments) == 1:
            return first.fullmatch(text) is not None
        tail_at = len(text) - self.lengths[-1]
        if tail_at < self.lengths[0] or not first.match(text) or not last.fullmatch(text, tail_at):
            return False
        position = self.lengths[0]
        for segment in self.segments[1:-1]:
            found = segment.search(text, position, tail_at)
            if found is None:
                return False
            position = found.end()
        return True


def search_tree(
    folder_fd: int,
    folder: RelPath,
    query: str,
    *,
    kind: Literal["substring", "glob"],
    scope: SearchScope,
    limit: int | None,
    limits: FileLimits,
) -> dict[str, Any]:
    """Search below the folder open at `folder_fd` (which is `folder`).

    Returns `{"query": str, "path": str, "matches": [{"path": str, "type": str} (a name match) |
    {"path": str, "line": int (1-based), "text": str} (a line match)], "truncated"?: str}`.

    Raises:
        chatgate.files.errors.FileSpaceError: an empty, too long or control-character query, or an
            unknown `kind` or `scope`.
    """
    if not isinstance(query, str) or not query.strip() or len(query) > SEARCH_MAX_QUERY_CHARS:
        raise FileSpaceError(f"the query must be 1 to {SEARCH_MAX_QUERY_CHARS} characters")
    if any(unicodedata.category(char) == "Cc" for char in query):
        raise FileSpaceError("the query contains control characters")
    if kind not in ("substring", "glob") or scope not in ("all", "names", "contents"):
        raise FileSpaceError("kind must be substring or glob; scope all, names or contents")
    pattern = Pattern.compile(query, glob=kind == "glob")
    cap = max(1, min(limit or SEARCH_DEFAULT_RESULTS, SEARCH_MAX_RESULTS))
    matches: list[dict[str, Any]] = []
    result: dict[str, Any] = {"query": query, "path": folder.display, "matches": matches}
    files = scanned = 0
    for entry in walk_tree(folder_fd, folder, max_depth=WALK_MAX_DEPTH):
        relative = "/".join(entry.path.parts[len(folder.parts) :])
        entry_kind = kind_of(entry.stat)
        glob = kind == "glob"
        if scope != "contents" and _name_matches(pattern, query, entry.path.name, relative, glob=glob):
            matches.append({"path": entry.path.display, "type": entry_kind})
        if scope == "names" or entry_kind != "file" or entry.stat.st_size > limits.max_file_bytes:
            if len(matches) >= cap:
                break
            continue
        files += 1
        scanned += entry.stat.st_size
        if files > SEARCH_MAX_FILES or scanned > SEARCH_MAX_SCAN_BYTES:
            result["truncated"] = "stopped after scanning the search budget of files; search a subfolder"
            break
        matches.extend(_search_file(entry.dir_fd, entry.path, pattern))
        if len(matches) >= cap:
            break
    if len(matches) >= cap:
        del matches[cap:]
        result["truncated"] = f"showing the first {cap} matches; narrow the query or search a subfolder"
    return result


def _name_matches(pattern: Pattern, query: str, name: str, relative: str, *, glob: bool) -> bool:
    if not glob:
        return pattern.find(name) is not None
    # A glob with a slash (`notes/*.md`) is about the path below the searched folder.
    return pattern.fullmatch(relative if "/" in query else name)


def _search_file(dir_fd: int, path: RelPath, pattern: Pattern) -> list[dict[str, Any]]:
    try:
        fd, st = open_file(dir_fd, path)  # re-vetted on the descriptor: no symlink, one link only
    except FileSpaceError:
        return []
    try:
        data = os.pread(fd, st.st_size, 0)
    finally:
        os.close(fd)
    if looks_binary(data[:BINARY_SAMPLE_BYTES]):
        return []
    found: list[dict[str, Any]] = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        start = pattern.find(line)
        if start is not None:
            text = snippet(line, start, SEARCH_SNIPPET_CHARS)
            found.append({"path": path.display, "line": number, "text": text})
            if len(found) == SEARCH_MAX_MATCHES_PER_FILE:
                break
    return found
