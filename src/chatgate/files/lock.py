"""The user's write lock: `flock` on a reserved file in the space.

It serializes writers across this user's concurrent processes (tool servers and the API's file
endpoints alike), so quota checks are exact and appends do not lose each other.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from chatgate.files.errors import StorageUnavailable
from chatgate.files.walk import FILE_MODE, LOCK_NAME, closing_fd


@contextmanager
def write_lock(space_fd: int) -> Iterator[None]:
    """Hold the write lock of the space open at `space_fd` until the block ends.

    Raises:
        StorageUnavailable: the lock file cannot be opened.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        lock_fd = os.open(LOCK_NAME, flags, FILE_MODE, dir_fd=space_fd)
    except OSError as exc:
        raise StorageUnavailable("your file space is not available right now") from exc
    with closing_fd(lock_fd):  # closing the lock file releases the lock
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        yield
