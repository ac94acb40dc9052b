"""Fixtures for the file space: a space per test, an outside tree to attack, and a tamper detector."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatgate.files import FileLimits, FileSpace

SECRET = b"TOP SECRET outside the space"
SMALL_LIMITS = FileLimits(
    max_file_bytes=64 * 1024, quota_bytes=256 * 1024, quota_files=60, max_read_bytes=4096
)

Snapshot = dict[str, tuple[object, ...]]


def snapshot(top: Path) -> Snapshot:
    """Every entry below `top` (itself included): kind, content, times, link count.

    Access times were set before modification times (see `outside`), so under `relatime` (the
    Linux default) any read or listing of an outside entry changes the snapshot. The snapshot reads
    with O_NOATIME so that it does not disturb what it measures.
    """
    state: Snapshot = {}
    pending = [Path()]
    while pending:
        rel = pending.pop()
        path = top / rel
        st = path.lstat()
        content: object = None
        if stat.S_ISLNK(st.st_mode):
            content = os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOATIME)
            try:
                names = sorted(os.listdir(fd))
            finally:
                os.close(fd)
            content = names
            pending.extend(rel / name for name in names)
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
            try:
                content = os.read(fd, 1 << 20)
            finally:
                os.close(fd)
        state[str(rel)] = (st.st_mode, content, st.st_mtime_ns, st.st_atime_ns, st.st_ctime_ns, st.st_nlink)
    return state


def _age_access_times(top: Path) -> None:
    for path in [top, *top.rglob("*")]:
        st = path.lstat()
        os.utime(path, ns=(st.st_mtime_ns - 10**9, st.st_mtime_ns), follow_symlinks=False)


@pytest.fixture
def take_snapshot() -> Callable[[Path], Snapshot]:
    """`snapshot`, for tests (conftest is not importable as a module)."""
    return snapshot


@pytest.fixture
def secret() -> bytes:
    return SECRET


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A tree next to the files root that no tool may read or change."""
    top = tmp_path / "outside"
    (top / "sub").mkdir(parents=True)
    (top / "secret.txt").write_bytes(SECRET)
    (top / "sub" / "inner.txt").write_bytes(SECRET + b" (inner)")
    _age_access_times(top)
    return top


@pytest.fixture
def untouched(outside: Path) -> Iterator[Callable[[], None]]:
    """A check (also run at teardown) that nothing in `outside` was read or changed."""
    before = snapshot(outside)

    def check() -> None:
        assert snapshot(outside) == before, "something outside the space was read or changed"

    yield check
    check()


@pytest.fixture
def space(root: Path) -> FileSpace:
    return FileSpace(root, "alice", SMALL_LIMITS)


@pytest.fixture
def home(space: FileSpace) -> Path:
    """alice's directory on disk (created by a first operation)."""
    space.usage()
    return space.root / space.dir_name


def entries_of(home: Path) -> set[str]:
    """Every path below `home`, reserved entries included (to see leftovers)."""
    return {str(path.relative_to(home)) for path in home.rglob("*")}
