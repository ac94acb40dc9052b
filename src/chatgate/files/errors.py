"""The file space's errors: every message names only the user's relative path."""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)


class FileSpaceError(Exception):
    """A refused or failed file operation; `str(exc)` is safe to show the model."""


class PathRefused(FileSpaceError):
    """The path is not acceptable (absolute, `..`, control characters, too long, reserved)."""


class PathNotFound(FileSpaceError):
    """Nothing exists at the path."""


class AlreadyExists(FileSpaceError):
    """Something already exists where the operation would create an entry."""


class WrongKind(FileSpaceError):
    """A folder where a file was expected, or a file where a folder was expected."""


class NotEmpty(FileSpaceError):
    """A folder to delete still has entries."""


class UnsafeEntry(FileSpaceError):
    """A symlink, hard-linked file or special file is on the path; it is never followed or changed."""


class LimitExceeded(FileSpaceError):
    """The file size cap or the user's quota would be exceeded; nothing was written."""


class FileTooLarge(LimitExceeded):
    """The file would be over the per-file size cap (`FILES_MAX_FILE_BYTES`)."""


class QuotaExceeded(LimitExceeded):
    """The user's files would be over their quota in bytes or in entries."""


class StorageUnavailable(FileSpaceError):
    """The disk is full, or the space cannot be opened."""


def from_os_error(exc: OSError, display: str) -> FileSpaceError:
    """Translate an `OSError` into a curated error about `display` (the user's relative path).

    The OS message is never passed on: it may carry absolute server paths.
    """
    code = exc.errno
    if code == errno.ENOENT:
        return PathNotFound(f"{display} was not found")
    if code == errno.EEXIST:
        return AlreadyExists(f"{display} already exists")
    if code == errno.ENOTEMPTY:
        return NotEmpty(f"folder {display} is not empty")
    if code in (errno.ELOOP, errno.EMLINK):
        return UnsafeEntry(f"{display} goes through a symbolic link, which this file space never follows")
    if code == errno.ENOTDIR:
        return WrongKind(f"a part of {display} is a file, not a folder")
    if code == errno.EISDIR:
        return WrongKind(f"{display} is a folder")
    if code == errno.EINVAL:
        return PathRefused(f"cannot do that with {display} (a folder cannot move into itself)")
    if code == errno.ENAMETOOLONG:
        return PathRefused(f"{display} is too long")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return StorageUnavailable("the file storage is full; nothing was written")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageUnavailable(f"{display} cannot be changed (permission denied)")
    logger.warning("unexpected file error on a user path: errno=%s", code)
    return StorageUnavailable(f"the operation on {display} failed")


@contextmanager
def translated(display: str) -> Iterator[None]:
    """Let curated errors through; turn any `OSError` into one about `display`."""
    try:
        yield
    except FileSpaceError:
        raise
    except OSError as exc:
        raise from_os_error(exc, display) from exc
