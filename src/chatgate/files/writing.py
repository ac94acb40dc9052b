"""Changing files: atomic replacement through a temporary file, and cleanup of interrupted writes."""

from __future__ import annotations

import os
import secrets
from contextlib import suppress

from chatgate.files.errors import FileTooLarge
from chatgate.files.limits import FileLimits
from chatgate.files.paths import RelPath
from chatgate.files.walk import DIR_FLAGS, FILE_MODE, TEMP_PREFIX, closing_fd, fsync_dir

_COPY_CHUNK = 1024 * 1024


def sweep_temp_files(parent_fd: int, name: str) -> None:
    """Remove leftovers of interrupted writes from a folder about to be deleted (under the lock)."""
    with closing_fd(os.open(name, DIR_FLAGS, dir_fd=parent_fd)) as folder_fd:
        for entry in os.listdir(folder_fd):  # noqa: PTH208 - a descriptor, not a path
            if entry.startswith(TEMP_PREFIX):
                with suppress(FileNotFoundError):
                    os.unlink(entry, dir_fd=folder_fd)


def replace_atomically(
    parent_fd: int, rel: RelPath, data: bytes, limits: FileLimits, *, prefix_fd: int | None = None
) -> int:
    """Write (`prefix_fd`'s content +) `data` to a temporary file, fsync, rename over `rel.name`.

    The rename replaces the directory entry itself: a symlink swapped in at the target is replaced,
    never followed. Returns the new size.
    """
    temp = f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temp, flags, FILE_MODE, dir_fd=parent_fd)
    try:
        try:
            written = 0
            if prefix_fd is not None:
                while chunk := os.read(prefix_fd, _COPY_CHUNK):
                    written += _write_all(fd, chunk)
                    if written + len(data) > limits.max_file_bytes:
                        raise FileTooLarge(f"{rel.display} would pass the per-file limit; nothing written")
            written += _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, rel.name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp, dir_fd=parent_fd)
        raise
    fsync_dir(parent_fd)
    return written


def _write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return len(data)
