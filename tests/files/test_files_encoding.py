"""User id -> directory name: one safe component, distinct per id, never an escape."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from chatgate.files import FileSpace
from chatgate.files.encoding import HASHED_PREFIX, space_dir_name, user_id_of

HOSTILE_IDS = [
    "alice",
    "Alice",
    "..",
    ".",
    "/",
    "../../etc",
    "a/b",
    "a\x00b",
    "a\\b",
    "ü名前🙂",
    "_41",
    "u-alice",
    "h-" + "0" * 64,
    "x" * 300,
    "x" * 301,
    " ",
    "\ud800",  # a lone surrogate a JSON decoder may hand over
]


def assert_safe_component(name: str) -> None:
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".")
    assert len(name.encode()) <= 255
    assert name.isascii() and name == name.lower()


def test_ordinary_ids_stay_readable() -> None:
    assert space_dir_name("alice") == "u-alice"
    assert space_dir_name("user-42") == "u-user-42"
    assert user_id_of("u-alice") == "alice"


def test_hostile_ids_become_distinct_safe_components() -> None:
    names = [space_dir_name(user_id) for user_id in HOSTILE_IDS]
    for name in names:
        assert_safe_component(name)
    assert len(set(names)) == len(HOSTILE_IDS)
    # Case-insensitive file systems must not merge two users either.
    assert len({name.casefold() for name in names}) == len(HOSTILE_IDS)


def test_long_ids_are_hashed_and_short_ones_round_trip() -> None:
    assert space_dir_name("x" * 300).startswith(HASHED_PREFIX)
    assert len(space_dir_name("x" * 300)) == 2 + 64
    for user_id in HOSTILE_IDS:
        name = space_dir_name(user_id)
        if not name.startswith(HASHED_PREFIX):
            assert user_id_of(name) == user_id


def test_an_id_equal_to_another_users_directory_name_gets_its_own() -> None:
    assert space_dir_name(space_dir_name("bob")) != space_dir_name("bob")


@given(st.text(max_size=400))
def test_any_id_is_one_safe_component(user_id: str) -> None:
    assert_safe_component(space_dir_name(user_id))


@given(st.text(max_size=60), st.text(max_size=60))
def test_distinct_ids_never_share_a_directory(first: str, second: str) -> None:
    if first != second:
        assert space_dir_name(first) != space_dir_name(second)


def test_hostile_ids_write_only_inside_their_own_directory(root: Path, untouched: Callable[[], None]) -> None:
    for user_id in HOSTILE_IDS:
        space = FileSpace(root, user_id)
        space.write("note.txt", user_id.encode("utf-8", "surrogatepass").hex())
        assert (root / space_dir_name(user_id) / "note.txt").is_file()
    assert sorted(path.name for path in root.iterdir()) == sorted(space_dir_name(uid) for uid in HOSTILE_IDS)
    untouched()
