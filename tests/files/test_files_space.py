"""The file space's operations, called directly: the happy paths and their edges."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chatgate.files import (
    AlreadyExists,
    FileLimits,
    FileSpace,
    NotEmpty,
    PathNotFound,
    PathRefused,
    WrongKind,
)
from chatgate.files.limits import MAX_DEPTH


def test_write_modes(space: FileSpace) -> None:
    assert space.write("notes/q3.md", "one\n") == {"path": "notes/q3.md", "size": 4, "created": True}
    with pytest.raises(AlreadyExists, match=r"notes/q3\.md already exists"):
        space.write("notes/q3.md", "again")
    assert space.write("notes/q3.md", "two\n", mode="append")["size"] == 8
    assert space.read("notes/q3.md")["content"] == "one\ntwo\n"
    assert space.write("notes/q3.md", "new", mode="overwrite") == {
        "path": "notes/q3.md",
        "size": 3,
        "created": False,
    }
    assert space.write("fresh.txt", "x", mode="append")["created"] is True
    assert space.write("fresh2.txt", "x", mode="overwrite")["created"] is True
    assert space.read("notes/q3.md")["content"] == "new"


def test_unicode_round_trip(space: FileSpace) -> None:
    text = "Grüße aus Köln 🙂\n東京の旅\n"
    space.write("Reisen/Notizen ü.md", text)
    result = space.read("Reisen/Notizen ü.md")
    assert result["content"] == text and result["size"] == len(text.encode()) and "invalid_utf8" not in result


def test_empty_file(space: FileSpace) -> None:
    space.write("empty.txt", "")
    assert space.read("empty.txt") == {
        "path": "empty.txt", "content": "", "unit": "lines", "offset": 0, "lines": 0, "size": 0,
    }  # fmt: skip
    assert space.read("empty.txt", unit="bytes")["content"] == ""


def test_invalid_utf8_is_shown_with_replacements(space: FileSpace, home: Path) -> None:
    (home / "latin1.txt").write_bytes("café crème\n".encode("latin-1"))
    result = space.read("latin1.txt")
    assert result["content"] == "caf\ufffd cr\ufffdme\n"
    assert "invalid_utf8" in result


def test_binary_is_described_not_dumped(space: FileSpace, home: Path) -> None:
    payload = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    (home / "pic.png").write_bytes(payload)
    result = space.read("pic.png")
    assert result["binary"] is True and result["media_type"] == "image/png" and result["size"] == len(payload)
    assert result["first_bytes_hex"].startswith("89504e47") and "content" not in result


def test_lines_offset_limit_and_continuation(space: FileSpace) -> None:
    space.write("list.txt", "".join(f"line {n}\n" for n in range(10)))
    result = space.read("list.txt", offset=2, limit=3)
    assert result["content"] == "line 2\nline 3\nline 4\n" and result["lines"] == 3
    assert "offset=5" in result["truncated"]
    tail = space.read("list.txt", offset=8)
    assert tail["content"] == "line 8\nline 9\n" and "truncated" not in tail
    assert space.read("list.txt", offset=50)["note"] == "the file has only 10 lines"


def test_read_cap_marks_truncation_and_slices_reassemble(space: FileSpace) -> None:
    text = "".join(f"{n:05d} ünïcödé\n" for n in range(2000))  # ~40 KB, cap is 4096 bytes
    space.write("big.txt", text)
    pieces, offset = [], 0
    while True:
        result = space.read("big.txt", offset=offset)
        pieces.append(result["content"])
        assert len(result["content"].encode()) <= 4096
        if "truncated" not in result:
            break
        assert "read cap" in result["truncated"]
        offset += result["lines"]
    assert "".join(pieces) == text


def test_bytes_mode_keeps_characters_whole(space: FileSpace) -> None:
    text = "aé" * 3000  # 9000 bytes, 2-byte characters at odd offsets
    space.write("chars.txt", text)
    pieces, offset = [], 0
    while True:
        result = space.read("chars.txt", offset=offset, limit=1001, unit="bytes")
        assert "\ufffd" not in result["content"]
        pieces.append(result["content"])
        if "truncated" not in result:
            break
        offset = int(result["truncated"].rsplit("offset=", 1)[1].split()[0])
    assert "".join(pieces) == text
    assert (
        space.read("chars.txt", offset=2, limit=4, unit="bytes")["offset"] == 3
    )  # skipped into a whole char


def test_one_line_longer_than_the_cap(space: FileSpace) -> None:
    space.write("minified.json", "x" * 10_000)
    result = space.read("minified.json")
    assert len(result["content"]) == 4096 and "unit='bytes' and offset=4096" in result["truncated"]


def test_large_file_up_to_the_limit(root: Path) -> None:
    space = FileSpace(root, "alice", FileLimits(max_file_bytes=4 << 20, quota_bytes=8 << 20))
    blob = "0123456789abcdef" * (4 << 16)  # exactly 4 MiB
    assert space.write("big.bin.txt", blob)["size"] == 4 << 20
    assert space.read("big.bin.txt", offset=(4 << 20) - 16, unit="bytes")["content"] == "0123456789abcdef"


def test_list(space: FileSpace) -> None:
    space.write("b.txt", "bb")
    space.write("a/inner.txt", "i")
    listing = space.list()
    assert [(e["name"], e["type"]) for e in listing["entries"]] == [("a", "folder"), ("b.txt", "file")]
    assert listing["entries"][1]["size"] == 2 and listing["entries"][1]["modified"].endswith("Z")
    deep = space.list(".", recursive=True)
    assert [e["name"] for e in deep["entries"]] == ["a", "a/inner.txt", "b.txt"]
    assert [e["name"] for e in space.list("a")["entries"]] == ["inner.txt"]
    assert "truncated" in space.list(".", recursive=True, limit=2)
    with pytest.raises(WrongKind, match="b.txt is a file"):
        space.list("b.txt")
    with pytest.raises(PathNotFound, match="nope was not found"):
        space.list("nope")


def test_reserved_entries_are_invisible(space: FileSpace, home: Path) -> None:
    space.write("a.txt", "a")
    (home / ".chatgate-tmp-leftover").write_text("half")
    assert [e["name"] for e in space.list(".", recursive=True)["entries"]] == ["a.txt"]
    assert space.search("half")["matches"] == []


def test_deep_trees(space: FileSpace) -> None:
    deepest = "/".join(f"d{n}" for n in range(MAX_DEPTH - 1)) + "/leaf.txt"
    space.write(deepest, "at the bottom")
    assert space.read(deepest)["content"] == "at the bottom"
    names = [e["name"] for e in space.list(".", recursive=True, limit=1000)["entries"]]
    assert names[-1] == deepest and len(names) == MAX_DEPTH
    assert space.search("bottom")["matches"] == [{"path": deepest, "line": 1, "text": "at the bottom"}]
    with pytest.raises(PathRefused):
        space.write("x/" + deepest, "too deep")
    with pytest.raises(PathRefused, match="nest folders over 32 deep"):
        space.move("d0", "x/d0")


def test_delete(space: FileSpace) -> None:
    space.write("docs/a.txt", "a")
    with pytest.raises(NotEmpty, match="folder docs is not empty"):
        space.delete("docs")
    assert space.delete("docs/a.txt") == {"deleted": "docs/a.txt", "type": "file"}
    assert space.delete("docs") == {"deleted": "docs", "type": "folder"}
    with pytest.raises(PathNotFound):
        space.delete("docs")
    for root_path in (".", "", "/", "./"):
        with pytest.raises(PathRefused):
            space.delete(root_path)


def test_move(space: FileSpace) -> None:
    space.write("draft.md", "text")
    assert space.move("draft.md", "final.md") == {"moved": "draft.md", "to": "final.md"}
    space.move("final.md", "archive/2026/final.md")
    assert space.read("archive/2026/final.md")["content"] == "text"
    space.write("other.md", "o")
    with pytest.raises(AlreadyExists):
        space.move("other.md", "archive/2026/final.md")
    with pytest.raises(PathRefused, match="inside itself"):
        space.move("archive", "archive/2026/archive")
    with pytest.raises(PathRefused, match="inside itself"):
        space.move("archive", "archive")
    with pytest.raises(PathNotFound):
        space.move("missing.md", "x.md")
    space.move("archive", "old/archive")
    assert space.read("old/archive/2026/final.md")["content"] == "text"


def test_search(space: FileSpace, home: Path) -> None:
    space.write("trips/berlin.md", "Plan\nThe Berlin trip in May\nberlin again\n")
    space.write("notes/q3.md", "Revenue up; nothing about travel\n")
    (home / "blob.bin").write_bytes(b"\x00Berlin trip\x00")
    found = space.search("berlin trip")
    assert found["matches"] == [{"path": "trips/berlin.md", "line": 2, "text": "The Berlin trip in May"}]
    names = space.search("berlin", scope="names")["matches"]
    assert names == [{"path": "trips/berlin.md", "type": "file"}]
    assert {m["path"] for m in space.search("*.md", kind="glob")["matches"]} == {
        "notes/q3.md",
        "trips/berlin.md",
    }
    assert space.search("trips/*.md", kind="glob", scope="names")["matches"] == [
        {"path": "trips/berlin.md", "type": "file"}
    ]
    assert [m["line"] for m in space.search("Berl?n*May", kind="glob")["matches"]] == [2]
    assert space.search("revenue", path="trips")["matches"] == []
    assert len(space.search("e", limit=2)["matches"]) == 2 and "truncated" in space.search("e", limit=2)


def test_search_glob_is_linear(space: FileSpace) -> None:
    space.write("long.txt", "a" * 3000 + "\n")
    assert space.search("*a*a*a*a*a*a*a*a*a*a*b", kind="glob")["matches"] == []  # returns at once


@pytest.mark.parametrize("query", ["", "   ", "a\x00b", "x" * 201])
def test_search_refuses_bad_queries(space: FileSpace, query: str) -> None:
    with pytest.raises(Exception, match="query"):
        space.search(query)


def test_permissions_are_private(space: FileSpace, home: Path) -> None:
    space.write("p/x.txt", "x")
    assert (home.stat().st_mode & 0o777) == 0o700
    assert ((home / "p").stat().st_mode & 0o777) == 0o700
    assert ((home / "p" / "x.txt").stat().st_mode & 0o777) == 0o600
    assert os.listdir(space.root) == [space.dir_name]
