"""Bounds of a file space: the configurable ones (`FileLimits`) and the fixed ones."""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB

# Fixed bounds on what a path may be. NAME_MAX on Linux is 255 bytes.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_DEPTH = 32

# Fixed bounds on listing and searching, so one call cannot walk or return without end.
LIST_DEFAULT_ENTRIES = 200
LIST_MAX_ENTRIES = 1000
SEARCH_DEFAULT_RESULTS = 50
SEARCH_MAX_RESULTS = 200
SEARCH_MAX_QUERY_CHARS = 200
SEARCH_MAX_MATCHES_PER_FILE = 10
SEARCH_MAX_FILES = 5000
SEARCH_MAX_SCAN_BYTES = 32 * MIB
SEARCH_SNIPPET_CHARS = 160
# Walks deeper than this (only reachable by moving deep folders into deep folders) are not followed.
WALK_MAX_DEPTH = 2 * MAX_DEPTH


@dataclass(frozen=True)
class FileLimits:
    """The operator's limits for every user's space (see docs/files.md for the variables)."""

    max_file_bytes: int = 10 * MIB
    quota_bytes: int = 100 * MIB
    quota_files: int = 10_000
    max_read_bytes: int = 64 * KIB

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "quota_bytes", "quota_files", "max_read_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")


def human_bytes(count: int) -> str:
    """`1536` -> `"1.5 KiB"`: sizes in messages the model relays to people."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
