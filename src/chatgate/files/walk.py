"""The only place paths inside a space are opened.

Every component is opened relative to the already-open folder above it (`openat`), with
`O_NOFOLLOW`, so a symlink anywhere on the path is refused by the kernel at the moment of use: a
symlink swapped in after any earlier check cannot redirect us, because there is no second lookup of
the full path. Files are checked again on the open descriptor (`fstat`): regular, one link only.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatgate.files.errors import FileSpaceError, PathNotFound, UnsafeEntry, WrongKind, from_os_error
from chatgate.files.limits import WALK_MAX_DEPTH
from chatgate.files.paths import RESERVED_PREFIX, RelPath, is_reserved

logger = logging.getLogger(__name__)

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO someone planted must not hang; it is refused right after by fstat.
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
TEMP_PREFIX = RESERVED_PREFIX + "tmp-"
LOCK_NAME = RESERVED_PREFIX + "lock"
DIR_MODE = 0o700
_PATH_ONLY = getattr(os, "O_PATH", os.O_RDONLY)  # O_PATH is Linux-only
FILE_MODE = 0o600


def open_space(root: Path, dir_name: str) -> int:
    """Open the user's folder `dir_name` below `root`, creating both if needed; the caller closes it."""
    root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    # The root is the operator's choice and may itself sit behind a symlink; below it nothing may.
    # A path-only handle: a contained tool server may not list the root (`chatgate.sandbox`), only
    # open its own folder below it.
    root_fd = os.open(root, _PATH_ONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return _open_child_dir(root_fd, dir_name, create=True)
    finally:
        os.close(root_fd)


def open_dir(base_fd: int, path: RelPath, *, create: bool = False) -> int:
    """Open the folder at `path` below `base_fd` (creating missing folders if asked); the caller closes it."""
    current = os.dup(base_fd)
    try:
        for index, name in enumerate(path.parts):
            try:
                child = _open_child_dir(current, name, create=create)
            except FileSpaceError:
                raise
            except OSError as exc:
                raise describe_failure(current, name, RelPath(path.parts[: index + 1]), exc) from exc
            os.close(current)
            current = child
    except BaseException:
        os.close(current)
        raise
    return current


def _open_child_dir(dir_fd: int, name: str, *, create: bool) -> int:
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        if not create:
            raise
    with suppress(FileExistsError):  # a concurrent writer made it first: the open below decides
        os.mkdir(name, DIR_MODE, dir_fd=dir_fd)
    return os.open(name, DIR_FLAGS, dir_fd=dir_fd)


def describe_failure(dir_fd: int, name: str, path: RelPath, exc: OSError) -> FileSpaceError:
    """A curated error for a failed open of `name`: says *why* (symlink, file, missing) when it can.

    Only for the message: the refusal itself already happened in the kernel.
    """
    if isinstance(exc, FileNotFoundError):
        return PathNotFound(f"{path.display} was not found")
    found = lstat_at(dir_fd, name)
    if found is not None and stat.S_ISLNK(found.st_mode):
        return UnsafeEntry(f"{path.display} is a symbolic link, which this file space never follows")
    if found is not None and not stat.S_ISDIR(found.st_mode):
        return WrongKind(f"{path.display} is a file, not a folder")
    return from_os_error(exc, path.display)


def existing_folders(base_fd: int, path: RelPath) -> int:
    """How many leading components of `path` exist below `base_fd` (as real folders, not symlinks).

    Raises:
        UnsafeEntry, WrongKind: a symlink or a file stands where a folder should be.
    """
    current = os.dup(base_fd)
    try:
        for index, name in enumerate(path.parts):
            prefix = RelPath(path.parts[: index + 1])
            found = lstat_at(current, name)
            if found is None:
                return index
            if not stat.S_ISDIR(found.st_mode):
                raise describe_failure(current, name, prefix, NotADirectoryError())
            try:
                child = os.open(name, DIR_FLAGS, dir_fd=current)
            except OSError as exc:
                raise describe_failure(current, name, prefix, exc) from exc
            os.close(current)
            current = child
        return len(path.parts)
    finally:
        os.close(current)


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """The entry `name` itself (never what a symlink points to), or `None` when absent."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None


def kind_of(st: os.stat_result) -> str:
    """`file`, `folder`, or why the entry is off limits: `symlink`, `hardlink`, `special`."""
    if stat.S_ISDIR(st.st_mode):
        return "folder"
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    if not stat.S_ISREG(st.st_mode):
        return "special"
    return "hardlink" if st.st_nlink > 1 else "file"


def require_plain_file(st: os.stat_result, path: RelPath) -> None:
    """Refuse anything but a regular file with exactly one link.

    A second hard link may live outside the space (a link planted by anyone with shell access), so
    such files are neither read nor changed.
    """
    kind = kind_of(st)
    if kind == "file":
        return
    if kind == "folder":
        raise WrongKind(f"{path.display} is a folder, not a file")
    if kind == "symlink":
        raise UnsafeEntry(f"{path.display} is a symbolic link, which this file space never follows")
    if kind == "hardlink":
        raise UnsafeEntry(f"{path.display} has more than one hard link; such files are not read or changed")
    raise UnsafeEntry(f"{path.display} is not a regular file")


def open_file(dir_fd: int, path: RelPath) -> tuple[int, os.stat_result]:
    """Open the regular file `path.name` in `dir_fd` for reading; the caller closes the descriptor."""
    before = lstat_at(dir_fd, path.name)
    if before is None:
        raise PathNotFound(f"{path.display} was not found")
    require_plain_file(before, path)  # refuse FIFOs and devices before open() can touch them
    try:
        fd = os.open(path.name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise describe_failure(dir_fd, path.name, path, exc) from exc
    try:
        st = os.fstat(fd)
        require_plain_file(st, path)  # authoritative: this is the inode we will actually read
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_file_below(base_fd: int, path: RelPath) -> tuple[int, os.stat_result]:
    """Open the regular file `path` below `base_fd`, its folders walked no-follow; the caller closes it."""
    with closing_fd(open_dir(base_fd, path.parent)) as parent_fd:
        return open_file(parent_fd, path)


def fsync_dir(dir_fd: int) -> None:
    """Make a rename or unlink in `dir_fd` durable, as far as the file system lets us.

    Called only after the change is done and visible: a failure here is logged, never raised, so a
    write that happened is never reported as failed (the model would repeat it: an append twice).
    """
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        logger.warning("fsync of a folder after a change failed: %s", type(exc).__name__)


@dataclass(frozen=True)
class TreeEntry:
    """One entry met by `walk_tree`; `path` is relative to the space root."""

    path: RelPath
    stat: os.stat_result
    depth: int
    # The open folder holding the entry; valid only until the walk takes its next step.
    dir_fd: int


def walk_tree(
    dir_fd: int, start: RelPath, *, max_depth: int, sweep_temp: bool = False
) -> Iterator[TreeEntry]:
    """Sorted, pre-order walk of the folder open at `dir_fd` (which is `start`), no-follow throughout.

    Reserved entries are skipped; with `sweep_temp` (only under the space's write lock, when no write
    can be in flight) leftover temporary files of interrupted writes are removed.
    Symlinked folders are reported, never entered. Stopping the iteration closes every descriptor.
    """
    stack: list[tuple[int, RelPath, Iterator[str], int]] = []
    try:
        stack.append((os.dup(dir_fd), start, iter(sorted(os.listdir(dir_fd))), 1))
        while stack:
            fd, folder, names, depth = stack[-1]
            name = next(names, None)
            if name is None:
                os.close(fd)
                stack.pop()
                continue
            if is_reserved(name):
                if sweep_temp and name.startswith(TEMP_PREFIX):
                    with suppress(OSError):
                        os.unlink(name, dir_fd=fd)
                continue
            found = lstat_at(fd, name)
            if found is None:  # removed while we walked
                continue
            entry = TreeEntry(folder.child(name), found, depth, fd)
            yield entry
            if stat.S_ISDIR(found.st_mode) and depth < max_depth:
                try:
                    child = os.open(name, DIR_FLAGS, dir_fd=fd)
                except OSError:  # replaced (by a symlink, say) since the lstat: not entered
                    continue
                try:
                    listing = sorted(os.listdir(child))  # noqa: PTH208 - a descriptor
                except OSError:
                    os.close(child)
                    continue
                stack.append((child, entry.path, iter(listing), depth + 1))
    finally:
        for fd, *_ in stack:
            os.close(fd)


@contextmanager
def closing_fd(fd: int) -> Iterator[int]:
    """Close a raw descriptor when the block ends."""
    try:
        yield fd
    finally:
        os.close(fd)


def tree_height(parent_fd: int, folder: RelPath) -> int:
    """How many levels of entries lie below `folder` (0 when it is empty)."""
    with closing_fd(os.open(folder.name, DIR_FLAGS, dir_fd=parent_fd)) as folder_fd:
        entries = walk_tree(folder_fd, folder, max_depth=WALK_MAX_DEPTH)
        return max((entry.depth for entry in entries), default=0)


def describe_entry(entry: TreeEntry, listed: RelPath) -> dict[str, Any]:
    """`entry` as a listing shows it: `{"name": str (relative to `listed`), "type": str, "size"?: int
    (bytes, files only), "modified"?: str (ISO 8601 UTC)}`."""
    kind = kind_of(entry.stat)
    described: dict[str, Any] = {"name": "/".join(entry.path.parts[len(listed.parts) :]), "type": kind}
    if kind == "file":
        described["size"] = entry.stat.st_size
    if kind in ("file", "folder"):
        described["modified"] = _timestamp(entry.stat.st_mtime)
    return described


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
