"""The attack corpus: every case must be refused, and nothing outside the space read or changed.

"Outside" is a tree next to the files root holding a secret; `untouched` fails the test if any
entry there was read (access times, see conftest), listed, written, renamed or deleted.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatgate.files import FileSpace, FileSpaceError, StorageUnavailable, UnsafeEntry
from chatgate.files.encoding import space_dir_name
from support.file_attacks import (
    ENCODED_NAMES,
    LEXICAL_ATTACKS,
    SECRET,
    SYMLINK_ATTACKS,
    SYMLINKS,
    plant_symlinks,
    resolve,
)

Snapshot = dict[str, tuple[object, ...]]


Operation = Callable[[FileSpace, str], Any]

OPERATIONS: dict[str, Operation] = {
    "list": lambda space, path: space.list(path),
    "list_recursive": lambda space, path: space.list(path, recursive=True),
    "read": lambda space, path: space.read(path),
    "read_bytes": lambda space, path: space.read(path, unit="bytes", offset=3),
    "create": lambda space, path: space.write(path, "pwned"),
    "overwrite": lambda space, path: space.write(path, "pwned", mode="overwrite"),
    "append": lambda space, path: space.write(path, "pwned", mode="append"),
    "delete": lambda space, path: space.delete(path),
    "move_from": lambda space, path: space.move(path, "loot.txt"),
    "move_to": lambda space, path: space.move("mine.txt", path),
    "search_in": lambda space, path: space.search("SECRET", path),
}


@pytest.fixture
def armed(space: FileSpace, home: Path, root: Path) -> FileSpace:
    """alice holds one file; bob, next door, holds notes."""
    space.write("mine.txt", "alice's own")
    FileSpace(root, "bob").write("notes.txt", "bob's private notes")
    return space


def _home_state(home: Path) -> dict[str, bytes | str | None]:
    state: dict[str, bytes | str | None] = {}
    for path in sorted(home.rglob("*")):
        rel = str(path.relative_to(home))
        if path.is_symlink():
            state[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            state[rel] = path.read_bytes()
        else:
            state[rel] = None
    return state


def _assert_curated(exc: FileSpaceError, root: Path, outside: Path) -> None:
    message = str(exc)
    assert message
    assert str(root) not in message and str(outside) not in message
    assert SECRET.decode() not in message


def test_the_tamper_detector_notices_a_read(
    outside: Path, secret: bytes, take_snapshot: Callable[[Path], Snapshot]
) -> None:
    assert secret == SECRET
    before = take_snapshot(outside)
    (outside / "secret.txt").read_bytes()
    assert take_snapshot(outside) != before


def _refuse_everywhere(space: FileSpace, path: str, home: Path, root: Path, outside: Path) -> None:
    """Every operation on `path` is refused, curated, and changes neither alice's files nor bob's."""
    before = _home_state(home)
    bob_before = _home_state(root / space_dir_name("bob"))
    for name, operation in OPERATIONS.items():
        with pytest.raises(FileSpaceError) as caught:
            operation(space, path)
        _assert_curated(caught.value, root, outside)
        assert _home_state(home) == before, name
        assert _home_state(root / space_dir_name("bob")) == bob_before, name


@pytest.mark.parametrize("attack", LEXICAL_ATTACKS)
def test_lexical_attacks_are_refused(
    armed: FileSpace, home: Path, root: Path, outside: Path, untouched: Callable[[], None], attack: str
) -> None:
    _refuse_everywhere(armed, resolve(attack, outside), home, root, outside)
    untouched()


@pytest.mark.parametrize("attack", ENCODED_NAMES)
def test_encoded_separators_are_just_names_inside_the_space(
    armed: FileSpace, home: Path, outside: Path, root: Path, untouched: Callable[[], None], attack: str
) -> None:
    with pytest.raises(FileSpaceError, match="not found"):
        armed.read(attack)
    armed.write(attack, "stays home")
    assert (home / attack).read_text() == "stays home"
    assert sorted(os.listdir(root)) == sorted([armed.dir_name, space_dir_name("bob")])
    untouched()


@pytest.fixture
def planted(armed: FileSpace, home: Path, outside: Path) -> FileSpace:
    plant_symlinks(home, outside)
    return armed


@pytest.mark.parametrize("attack", SYMLINK_ATTACKS)
def test_planted_symlinks_are_never_followed(
    planted: FileSpace, home: Path, root: Path, outside: Path, untouched: Callable[[], None], attack: str
) -> None:
    _refuse_everywhere(planted, attack, home, root, outside)
    assert not (outside / "created-by-attack.txt").exists()
    untouched()


def test_listing_and_searching_around_symlinks(planted: FileSpace, untouched: Callable[[], None]) -> None:
    listing = {entry["name"]: entry for entry in planted.list(".", recursive=True)["entries"]}
    assert listing["dirlink"] == {"name": "dirlink", "type": "symlink"}  # no target, size or time
    assert not any(name.startswith(("dirlink/", "up/")) for name in listing)
    found = planted.search("link", scope="names")["matches"]
    assert found == [{"path": "dirlink", "type": "symlink"}, {"path": "link.txt", "type": "symlink"}]
    assert planted.search("SECRET outside", scope="contents")["matches"] == []
    assert planted.usage()["entries"] == 1 + len(SYMLINKS)
    untouched()


def test_hard_link_to_an_outside_file(
    armed: FileSpace, home: Path, root: Path, outside: Path, take_snapshot: Callable[[Path], Snapshot]
) -> None:
    os.link(outside / "secret.txt", home / "hard.txt")
    before = take_snapshot(outside)
    for name, operation in OPERATIONS.items():
        if name == "move_to":
            continue
        with pytest.raises(FileSpaceError) as caught:
            operation(armed, "hard.txt")
        _assert_curated(caught.value, root, outside)
    with pytest.raises(FileSpaceError):
        armed.move("mine.txt", "hard.txt")
    assert armed.search("SECRET")["matches"] == []
    assert {"name": "hard.txt", "type": "hardlink"} in armed.list()["entries"]
    assert take_snapshot(outside) == before
    assert (home / "hard.txt").stat().st_nlink == 2


def test_fifo_is_refused_without_hanging(armed: FileSpace, home: Path) -> None:
    os.mkfifo(home / "pipe")
    for operation in ("read", "overwrite", "append", "delete", "move_from"):
        with pytest.raises(UnsafeEntry, match="pipe is not a regular file"):
            OPERATIONS[operation](armed, "pipe")
    assert [m["path"] for m in armed.search("o", scope="contents")["matches"]] == ["mine.txt"]
    assert stat.S_ISFIFO((home / "pipe").lstat().st_mode)


def test_a_space_directory_replaced_by_a_symlink(
    root: Path, outside: Path, untouched: Callable[[], None]
) -> None:
    root.mkdir()
    (root / space_dir_name("mallory")).symlink_to(outside)
    mallory = FileSpace(root, "mallory")
    for call in (
        lambda: mallory.list(),
        lambda: mallory.read("secret.txt"),
        lambda: mallory.write("x.txt", "x"),
    ):
        with pytest.raises(StorageUnavailable, match="not available"):
            call()
    untouched()


def test_users_named_like_each_others_directories(root: Path) -> None:
    bob = FileSpace(root, "bob")
    bob.write("notes.txt", "bob's")
    impostor = FileSpace(root, space_dir_name("bob"))  # the user id "u-bob"
    assert impostor.list()["entries"] == []
    assert impostor.search("bob")["matches"] == []
    with pytest.raises(FileSpaceError):
        impostor.read("notes.txt")
    impostor.write("notes.txt", "impostor's")
    assert bob.read("notes.txt")["content"] == "bob's"


# Time-of-check/time-of-use: swap a symlink in at the last moment before the kernel call that uses
# the path. The no-follow, fd-relative open must refuse it (or, for rename, replace the link itself).


def _swap_on(
    monkeypatch: pytest.MonkeyPatch, function: str, name: str, swap: Callable[[], None]
) -> list[bool]:
    real = getattr(os, function)
    fired: list[bool] = []

    def hooked(*args: Any, **kwargs: Any) -> Any:
        target = args[1] if function == "rename" else args[0]
        if target == name and not fired and kwargs.get("dst_dir_fd", kwargs.get("dir_fd")) is not None:
            fired.append(True)
            swap()
        return real(*args, **kwargs)

    monkeypatch.setattr(os, function, hooked)
    return fired


@pytest.mark.parametrize(
    "operation", ["list", "read", "overwrite", "append", "delete", "move_from", "search_in"]
)
def test_folder_swapped_for_a_symlink_before_open(
    armed: FileSpace,
    home: Path,
    outside: Path,
    untouched: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
) -> None:
    armed.write("docs/secret.txt", "inside copy")
    path = "docs" if operation in ("list", "search_in") else "docs/secret.txt"

    def swap() -> None:
        (home / "docs").rename(home / "docs-real")
        (home / "docs").symlink_to(outside)

    fired = _swap_on(monkeypatch, "open", "docs", swap)
    with pytest.raises(UnsafeEntry, match="symbolic link"):
        OPERATIONS[operation](armed, path)
    assert fired
    untouched()


@pytest.mark.parametrize("unit", ["lines", "bytes"])
def test_file_swapped_for_a_symlink_after_the_check(
    armed: FileSpace,
    home: Path,
    outside: Path,
    untouched: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
    unit: str,
) -> None:
    def swap() -> None:
        (home / "mine.txt").unlink()
        (home / "mine.txt").symlink_to(outside / "secret.txt")

    fired = _swap_on(monkeypatch, "open", "mine.txt", swap)
    with pytest.raises(UnsafeEntry, match="symbolic link"):
        armed.read("mine.txt", unit=unit)  # type: ignore[arg-type]
    assert fired
    untouched()


def test_file_swapped_for_a_hard_link_after_the_check(
    armed: FileSpace, home: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def swap() -> None:
        (home / "mine.txt").unlink()
        os.link(outside / "secret.txt", home / "mine.txt")

    fired = _swap_on(monkeypatch, "open", "mine.txt", swap)
    atime = (outside / "secret.txt").stat().st_atime_ns
    with pytest.raises(UnsafeEntry, match="hard link"):
        armed.read("mine.txt")
    assert fired
    assert (outside / "secret.txt").stat().st_atime_ns == atime
    assert (outside / "secret.txt").read_bytes() == SECRET


@pytest.mark.parametrize("mode", ["overwrite", "append"])
def test_write_target_swapped_for_a_symlink_before_rename(
    armed: FileSpace,
    home: Path,
    outside: Path,
    untouched: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    def swap() -> None:
        (home / "mine.txt").unlink()
        (home / "mine.txt").symlink_to(outside / "secret.txt")

    fired = _swap_on(monkeypatch, "rename", "mine.txt", swap)
    armed.write("mine.txt", "new", mode=mode)  # type: ignore[arg-type]
    assert fired
    # rename() replaced the link itself: the outside file was neither followed nor changed.
    assert not (home / "mine.txt").is_symlink()
    assert (home / "mine.txt").read_text().endswith("new")
    untouched()


def test_parent_swapped_for_a_symlink_while_creating_folders(
    armed: FileSpace,
    home: Path,
    outside: Path,
    untouched: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_mkdir = os.mkdir

    def hooked(path: Any, *args: Any, **kwargs: Any) -> Any:
        real_mkdir(path, *args, **kwargs)
        if path == "fresh":  # created; now an attacker replaces it before we open it
            (home / "fresh").rmdir()
            (home / "fresh").symlink_to(outside)

    monkeypatch.setattr(os, "mkdir", hooked)
    with pytest.raises(UnsafeEntry):
        armed.write("fresh/new.txt", "x")
    assert not (outside / "new.txt").exists()
    untouched()
