"""Size caps, quotas, atomicity and concurrency; and the limits' path from settings to the child."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.files import FileLimits, FileSpace, LimitExceeded, StorageUnavailable
from chatgate.launcher.environment import child_environment
from chatgate.mcp_server.settings import ChildSettings


def test_file_size_cap_keeps_the_old_content(space: FileSpace, home: Path) -> None:
    space.write("doc.txt", "original")
    with pytest.raises(
        LimitExceeded, match=r"doc\.txt would be 64\.0 KiB.*limit per file; nothing was written"
    ):
        space.write("doc.txt", "x" * (64 * 1024 + 1), mode="overwrite")
    with pytest.raises(LimitExceeded):
        space.write("doc.txt", "x" * (64 * 1024 - 4), mode="append")
    assert space.read("doc.txt")["content"] == "original"
    assert space.write("doc.txt", "x" * (64 * 1024), mode="overwrite")["size"] == 64 * 1024
    assert sorted(os.listdir(home)) == [".chatgate-lock", "doc.txt"]


def test_quota_in_bytes(space: FileSpace) -> None:
    for n in range(4):
        space.write(f"f{n}.txt", "x" * 60_000)  # 240,000 of 262,144 bytes
    with pytest.raises(LimitExceeded, match=r"over your 256\.0 KiB quota; nothing was written"):
        space.write("f4.txt", "x" * 30_000)
    with pytest.raises(LimitExceeded):
        space.write("f0.txt", "y" * 30_000, mode="append")
    assert not (space.root / space.dir_name / "f4.txt").exists()
    assert space.read("f0.txt", unit="bytes", limit=5)["content"] == "xxxxx"
    space.write("f0.txt", "small", mode="overwrite")  # shrinking always passes
    space.write("f4.txt", "x" * 30_000)  # and frees room
    assert space.usage()["bytes"] == 180_000 + 5 + 30_000


def test_quota_counts_files_and_new_folders(root: Path) -> None:
    space = FileSpace(root, "alice", FileLimits(quota_files=5))
    space.write("a/b/c.txt", "1")  # a, a/b, a/b/c.txt
    with pytest.raises(LimitExceeded, match="would make 6 files and folders, over your limit of 5"):
        space.write("x/y/z.txt", "2")
    assert not (root / space.dir_name / "x").exists()
    space.write("a/b/d.txt", "2")  # 4
    with pytest.raises(LimitExceeded):
        space.move("a/b/d.txt", "p/q/d.txt")  # needs two more folders
    space.write("a/e.txt", "3")  # 5: full
    space.write("a/e.txt", "33", mode="overwrite")  # replacing adds no entry
    space.move("a/e.txt", "a/b/e.txt")  # moving adds none
    assert space.usage()["entries"] == 5


def test_injected_error_before_rename_leaves_old_content(
    space: FileSpace, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    space.write("doc.txt", "original")

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "injected I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    for mode in ("overwrite", "append"):
        with pytest.raises(StorageUnavailable, match=r"the operation on doc\.txt failed") as caught:
            space.write("doc.txt", "replacement", mode=mode)  # type: ignore[arg-type]
        assert str(home) not in str(caught.value)
    monkeypatch.undo()
    assert (home / "doc.txt").read_text() == "original"
    assert sorted(os.listdir(home)) == [".chatgate-lock", "doc.txt"]  # no temporary file left


def test_interrupted_mid_write_leaves_old_content(
    space: FileSpace, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    space.write("doc.txt", "original")
    real_write = os.write
    calls = []

    def dying_write(fd: int, data: Any) -> int:
        calls.append(fd)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "injected: disk full")
        return real_write(fd, bytes(data)[:10])  # a short write first, then the failure

    monkeypatch.setattr(os, "write", dying_write)
    with pytest.raises(StorageUnavailable, match="storage is full; nothing was written"):
        space.write("doc.txt", "a much longer replacement text", mode="overwrite")
    monkeypatch.undo()
    assert (home / "doc.txt").read_text() == "original"
    assert sorted(os.listdir(home)) == [".chatgate-lock", "doc.txt"]


def test_leftovers_of_a_crashed_writer_are_swept(space: FileSpace, home: Path) -> None:
    space.write("docs/a.txt", "a")
    (home / "docs" / ".chatgate-tmp-crashed").write_bytes(b"x" * 200_000)
    assert space.usage()["bytes"] == 1  # never counted against the user
    space.write("b.txt", "b")  # a write holds the lock, so any temporary file is stale
    assert not (home / "docs" / ".chatgate-tmp-crashed").exists()
    (home / "docs" / ".chatgate-tmp-crashed2").write_bytes(b"x")
    space.delete("docs/a.txt")
    space.delete("docs")  # a folder holding only leftovers counts as empty


def test_concurrent_writers_never_corrupt(root: Path) -> None:
    limits = FileLimits(max_file_bytes=1 << 20, quota_bytes=16 << 20)
    contents = [chr(ord("a") + n) * 200_000 for n in range(8)]
    errors: list[BaseException] = []

    def run(path: str, text: str, mode: Any) -> None:
        try:
            # Each thread has its own FileSpace, like concurrent tool processes of one user.
            FileSpace(root, "alice", limits).write(path, text, mode=mode)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=("same.txt", text, "overwrite")) for text in contents]
    threads += [threading.Thread(target=run, args=("log.txt", f"entry {n}\n", "append")) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    space = FileSpace(root, "alice", limits)
    assert (space.root / space.dir_name / "same.txt").read_text() in contents
    assert sorted((space.root / space.dir_name / "log.txt").read_text().splitlines()) == sorted(
        f"entry {n}" for n in range(20)
    )


def test_limits_flow_from_settings_to_the_child(tmp_path: Path) -> None:
    settings = Settings(
        CHATGATE_STATE_DIR=tmp_path,
        FILES_ROOT=tmp_path / "files",
        FILES_MAX_FILE_BYTES=1000,
        FILES_QUOTA_BYTES=5000,
        FILES_QUOTA_FILES=7,
        FILES_MAX_READ_BYTES=2048,
    )
    env = child_environment(settings, Principal("alice"), request_id="r1")
    assert env["FILES_QUOTA_FILES"] == "7" and env["FILES_MAX_FILE_BYTES"] == "1000"
    child = ChildSettings.from_environ(env)
    assert child.files_limits == FileLimits(
        max_file_bytes=1000, quota_bytes=5000, quota_files=7, max_read_bytes=2048
    )
    assert child.files_root == tmp_path / "files"


def test_child_falls_back_to_defaults_never_to_no_limit() -> None:
    env = {"CHATGATE_USER_ID": "alice", "FILES_QUOTA_BYTES": "-1", "FILES_QUOTA_FILES": "lots"}
    assert ChildSettings.from_environ(env).files_limits == FileLimits()


def test_settings_refuse_nonsense_limits(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="FILES_QUOTA_BYTES"):
        Settings(CHATGATE_STATE_DIR=tmp_path, FILES_QUOTA_BYTES=0)
    with pytest.raises(ValueError, match="quota_files"):
        FileLimits(quota_files=0)
