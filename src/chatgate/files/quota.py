"""The per-user limits a change must respect: the size of one file and the quota of the whole space.

Both checks run under the user's write lock (`FileSpace._locked`), so the usage they measure cannot
change underneath them; every refusal says that nothing was written.
"""

from __future__ import annotations

import stat

from chatgate.files.errors import FileTooLarge, QuotaExceeded
from chatgate.files.limits import WALK_MAX_DEPTH, FileLimits
from chatgate.files.limits import human_bytes as human
from chatgate.files.paths import ROOT, RelPath
from chatgate.files.walk import walk_tree


def check_size(limits: FileLimits, rel: RelPath, size: int) -> None:
    """Refuse a file of `size` bytes at `rel` over the per-file limit.

    Raises:
        chatgate.files.errors.FileTooLarge: the file would be too large.
    """
    if size > limits.max_file_bytes:
        raise FileTooLarge(
            f"{rel.display} would be {human(size)}, over the {human(limits.max_file_bytes)} limit "
            "per file; nothing was written"
        )


def check_quota(
    limits: FileLimits, space_fd: int, rel: RelPath, added_bytes: int, added_entries: int
) -> None:
    """Refuse growth past the quota; shrinking or same-size changes always pass.

    Raises:
        chatgate.files.errors.QuotaExceeded: the space would hold too many bytes or entries.
    """
    if added_bytes <= 0 and added_entries <= 0:
        return
    used_bytes, used_entries = usage(space_fd, sweep=True)
    if added_bytes > 0 and used_bytes + added_bytes > limits.quota_bytes:
        raise QuotaExceeded(
            f"{rel.display} would bring your files to {human(used_bytes + added_bytes)}, over your "
            f"{human(limits.quota_bytes)} quota; nothing was written (delete something first)"
        )
    if added_entries > 0 and used_entries + added_entries > limits.quota_files:
        raise QuotaExceeded(
            f"{rel.display} would make {used_entries + added_entries} files and folders, over your "
            f"limit of {limits.quota_files}; nothing was written (delete something first)"
        )


def usage(space_fd: int, *, sweep: bool) -> tuple[int, int]:
    """(bytes in regular files, entries) of the open space; `sweep` also removes stale temp files."""
    used_bytes = used_entries = 0
    for entry in walk_tree(space_fd, ROOT, max_depth=WALK_MAX_DEPTH, sweep_temp=sweep):
        used_entries += 1
        if stat.S_ISREG(entry.stat.st_mode):
            used_bytes += entry.stat.st_size
    return used_bytes, used_entries
