"""Path validation (pure): what the model may name."""

from __future__ import annotations

import pytest

from chatgate.files import PathRefused
from chatgate.files.paths import ROOT, RelPath, parse_path


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("notes/q3.md", ("notes", "q3.md")),
        ("a//b/./c/", ("a", "b", "c")),
        ("./x", ("x",)),
        ("Berichte/Ü 2026.txt", ("Berichte", "Ü 2026.txt")),
        ("%2e%2e%2fetc", ("%2e%2e%2fetc",)),  # never decoded: an ordinary name
        ("．．／x", ("．．／x",)),  # fullwidth look-alikes are ordinary characters
        ("..foo/bar..", ("..foo", "bar..")),
        ("🙂/" * 31 + "🙂", ("🙂",) * 32),
    ],
)
def test_accepted(raw: str, parts: tuple[str, ...]) -> None:
    assert parse_path(raw).parts == parts


@pytest.mark.parametrize(
    "raw",
    [
        "/etc/passwd",
        "//server/share",
        "~/notes",
        "~",
        "..",
        "../x",
        "a/../../x",
        "a/..",
        "a/../b",
        "..\\x",
        "a\\b",
        "a\x00b",
        "a\nb",
        "a\x1b[31m",
        "a\x7f",
        "a\u202etxt.exe",
        "a\u2028b",
        "x" * 256,
        "é" * 128,  # 256 bytes
        "a/" * 33 + "a",
        "a" * 1025,
        "\ud800",
        ".chatgate-lock",
        "notes/.chatgate-tmp-1234",
        "",
        ".",
        "./",
    ],
)
def test_refused(raw: str) -> None:
    with pytest.raises(PathRefused) as caught:
        parse_path(raw)
    assert "\x00" not in str(caught.value)


def test_root_only_where_allowed() -> None:
    assert parse_path(".", allow_root=True) == ROOT
    assert parse_path("", allow_root=True).display == "."
    with pytest.raises(PathRefused):
        parse_path(None)


def test_relpath_helpers() -> None:
    path = RelPath(("a", "b", "c.txt"))
    assert path.display == "a/b/c.txt" and path.name == "c.txt" and path.parent.display == "a/b"
    assert path.is_within(RelPath(("a",))) and not RelPath(("ab",)).is_within(RelPath(("a",)))
