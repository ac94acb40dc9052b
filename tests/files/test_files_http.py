"""`/api/files` through real HTTP: list, download, upload, delete — the caller's space only.

The attack corpus is the file tools' own (`support.file_attacks`): each path is sent to every
endpoint, fully percent-encoded so it reaches the server as written (no client-side `..` folding),
and must be refused with the error shape while alice's files, bob's files and a secret tree next to
the files root stay exactly as they were. A round trip through the file tools runs on both launchers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatgate.files.encoding import space_dir_name
from support.file_attacks import (
    ENCODED_NAMES,
    LEXICAL_ATTACKS,
    SECRET,
    SYMLINK_ATTACKS,
    plant_symlinks,
    resolve,
)
from support.live_app import LiveApp, start_live_app
from support.models import call_then_report
from support.tokens import auth

Snapshot = dict[str, tuple[object, ...]]
MAX_FILE = 64 * 1024
QUOTA = 256 * 1024
REFUSED = {403: "unsafe_entry", 404: "not_found", 409: None, 422: "invalid_path"}


def encoded(path: str) -> str:
    """Every byte but ASCII letters and digits percent-encoded: `/` and `.` included, so neither
    the client nor a proxy can resolve `..` before the server sees it."""
    return "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"%{b:02X}" for b in path.encode())


@pytest.fixture(scope="module")
def files_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    server, app = start_live_app(
        tmp_path_factory.mktemp("files-http"),
        MCP_LAUNCHER="exec",
        FILES_MAX_FILE_BYTES=MAX_FILE,
        FILES_QUOTA_BYTES=QUOTA,
        FILES_QUOTA_FILES=60,
        MAX_REQUEST_BYTES=16 * 1024,  # uploads are bounded by FILES_MAX_FILE_BYTES alone
    )
    with server:
        yield app


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


def _root(app: LiveApp) -> Path:
    return app.settings.resolved_files_root


@pytest.fixture
def home(files_app: LiveApp, client: httpx.Client) -> Iterator[Path]:
    """alice holds `mine.txt`, bob next door holds `notes.txt`; both emptied after the test."""
    root = _root(files_app)
    for user, name, text in (("alice", "mine.txt", b"alice's own"), ("bob", "notes.txt", b"bob's private")):
        put = client.put(f"{files_app.url}/api/files/{name}", content=text, headers=auth(user))
        assert put.status_code in (200, 201), put.text
    yield root / space_dir_name("alice")
    for user in ("alice", "bob"):
        folder = root / space_dir_name(user)
        for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()


@pytest.fixture
def outside(files_app: LiveApp, take_snapshot: Callable[[Path], Snapshot]) -> Iterator[Path]:
    """A secret tree next to the files root; the test fails if anything in it was read or changed."""
    top = _root(files_app).parent / "outside"
    (top / "sub").mkdir(parents=True, exist_ok=True)
    (top / "secret.txt").write_bytes(SECRET)
    (top / "sub" / "inner.txt").write_bytes(SECRET + b" (inner)")
    for path in [top, *top.rglob("*")]:  # access times before modification times: a read shows
        st = path.lstat()
        os.utime(path, ns=(st.st_mtime_ns - 10**9, st.st_mtime_ns), follow_symlinks=False)
    before = take_snapshot(top)
    yield top
    assert take_snapshot(top) == before, "something outside the space was read or changed"


def _state(folder: Path) -> dict[str, bytes | str | None]:
    return {
        str(path.relative_to(folder)): (
            "-> " + os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else None
        )
        for path in sorted(folder.rglob("*"))
    }


def _requests(url: str, path: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    item = f"{url}/api/files/{encoded(path)}"
    return {
        "list": ("GET", f"{url}/api/files", {"params": {"path": path}}),
        "list_recursive": ("GET", f"{url}/api/files", {"params": {"path": path, "recursive": "true"}}),
        "download": ("GET", item, {}),
        "upload": ("PUT", item, {"content": b"pwned"}),
        "delete": ("DELETE", item, {}),
    }


def _refused_everywhere(app: LiveApp, client: httpx.Client, path: str, home: Path) -> None:
    root = _root(app)
    before, bob_before = _state(home), _state(root / space_dir_name("bob"))
    for name, (method, url, extra) in _requests(app.url, path).items():
        response = client.request(method, url, headers=auth("alice"), **extra)
        assert response.status_code in REFUSED, (name, response.status_code, response.text)
        error = response.json()["error"]
        assert set(error) == {"code", "message"}
        if REFUSED[response.status_code]:
            assert error["code"] == REFUSED[response.status_code], (name, error)
        assert str(root) not in response.text and SECRET.decode() not in response.text
        assert _state(home) == before, name
        assert _state(root / space_dir_name("bob")) == bob_before, name


@pytest.mark.parametrize("attack", LEXICAL_ATTACKS)
def test_lexical_attacks_are_refused_over_http(
    files_app: LiveApp, client: httpx.Client, home: Path, outside: Path, attack: str
) -> None:
    _refused_everywhere(files_app, client, resolve(attack, outside), home)


@pytest.mark.parametrize("attack", SYMLINK_ATTACKS)
def test_planted_symlinks_are_never_followed_over_http(
    files_app: LiveApp, client: httpx.Client, home: Path, outside: Path, attack: str
) -> None:
    plant_symlinks(home, outside)
    _refused_everywhere(files_app, client, attack, home)
    assert not (outside / "created-by-attack.txt").exists()


@pytest.mark.parametrize("name", ENCODED_NAMES)
def test_encoded_separators_are_just_names_over_http(
    files_app: LiveApp, client: httpx.Client, home: Path, outside: Path, name: str
) -> None:
    url = f"{files_app.url}/api/files/{encoded(name)}"
    assert client.get(url, headers=auth("alice")).status_code == 404
    assert client.put(url, content=b"stays home", headers=auth("alice")).status_code == 201
    assert (home / name).read_bytes() == b"stays home"
    assert sorted(os.listdir(_root(files_app))) == sorted([space_dir_name("alice"), space_dir_name("bob")])


def test_each_user_sees_only_their_own_files(files_app: LiveApp, client: httpx.Client, home: Path) -> None:
    url = files_app.url
    alice = client.get(f"{url}/api/files", headers=auth("alice")).json()
    assert [entry["name"] for entry in alice["entries"]] == ["mine.txt"]
    # The same path means the caller's own file: bob has no mine.txt, alice no notes.txt.
    assert client.get(f"{url}/api/files/mine.txt", headers=auth("bob")).status_code == 404
    assert client.get(f"{url}/api/files/notes.txt", headers=auth("alice")).status_code == 404
    assert client.delete(f"{url}/api/files/notes.txt", headers=auth("alice")).status_code == 404
    assert client.get(f"{url}/api/files/notes.txt", headers=auth("bob")).content == b"bob's private"
    assert client.get(f"{url}/api/files").status_code == 401
    assert client.get(f"{url}/api/files/mine.txt").status_code == 401


def test_upload_download_list_delete(files_app: LiveApp, client: httpx.Client, home: Path) -> None:
    url, headers = files_app.url, auth("alice")
    payload = bytes(range(256)) * 40  # binary, NUL bytes included
    created = client.put(f"{url}/api/files/reports/2026/q1.pdf", content=payload, headers=headers)
    assert created.status_code == 201
    assert created.json() == {"path": "reports/2026/q1.pdf", "size": len(payload), "created": True}
    replaced = client.put(f"{url}/api/files/reports/2026/q1.pdf", content=payload[:10], headers=headers)
    assert replaced.status_code == 200 and replaced.json()["created"] is False
    client.put(f"{url}/api/files/reports/2026/q1.pdf", content=payload, headers=headers)

    download = client.get(f"{url}/api/files/reports/2026/q1.pdf", headers=headers)
    assert download.status_code == 200 and download.content == payload
    assert download.headers["content-type"] == "application/pdf"
    disposition = download.headers["content-disposition"]
    assert disposition == "attachment; filename=\"q1.pdf\"; filename*=UTF-8''q1.pdf"
    assert download.headers["content-length"] == str(len(payload))
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]

    name = 'Grüße "final".txt'
    client.put(f"{url}/api/files/{encoded(name)}", content="hällo\n".encode(), headers=headers)
    text = client.get(f"{url}/api/files/{encoded(name)}", headers=headers)
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.headers["content-disposition"] == (
        "attachment; filename=\"Gr__e _final_.txt\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22final%22.txt"
    )
    page = client.put(f"{url}/api/files/page.html", content=b"<script>alert(1)</script>", headers=headers)
    assert page.status_code == 201
    served = client.get(f"{url}/api/files/page.html", headers=headers)
    assert served.headers["content-disposition"].startswith("attachment;")  # never rendered as a page

    listing = client.get(f"{url}/api/files", params={"path": "reports", "recursive": "true"}, headers=headers)
    assert listing.status_code == 200
    entries = listing.json()["entries"]
    assert [(entry["name"], entry["type"]) for entry in entries] == [
        ("2026", "folder"), ("2026/q1.pdf", "file"),
    ]  # fmt: skip
    assert entries[1]["size"] == len(payload) and entries[1]["modified"].endswith("Z")
    top = client.get(f"{url}/api/files", headers=headers).json()
    assert [entry["name"] for entry in top["entries"]] == [name, "mine.txt", "page.html", "reports"]
    limited = client.get(f"{url}/api/files", params={"limit": 2}, headers=headers).json()
    assert len(limited["entries"]) == 2 and "truncated" in limited

    assert client.get(f"{url}/api/files/reports", headers=headers).json()["error"]["code"] == "wrong_kind"
    assert client.delete(f"{url}/api/files/reports", headers=headers).json()["error"]["code"] == "not_empty"
    assert client.delete(f"{url}/api/files/reports/2026/q1.pdf", headers=headers).status_code == 204
    assert client.get(f"{url}/api/files/reports/2026/q1.pdf", headers=headers).status_code == 404
    assert client.delete(f"{url}/api/files/reports/2026", headers=headers).status_code == 204
    assert not (home / "reports" / "2026").exists()
    assert client.get(f"{url}/api/files", params={"path": "nowhere"}, headers=headers).status_code == 404


def test_uploads_over_the_limits_store_nothing(files_app: LiveApp, client: httpx.Client, home: Path) -> None:
    url, headers = files_app.url, auth("alice")
    before = _state(home)

    too_big = client.put(f"{url}/api/files/mine.txt", content=b"x" * (MAX_FILE + 1), headers=headers)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "file_too_large"

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        for _ in range(MAX_FILE // 4096 + 2):
            yield b"y" * 4096

    streamed = client.put(f"{url}/api/files/new.txt", content=chunked(), headers=headers)
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "file_too_large"
    assert _state(home) == before  # the old content stays, no new file, no temporary file left

    # Over MAX_REQUEST_BYTES is fine for an upload: only FILES_MAX_FILE_BYTES applies.
    for index in range(QUOTA // MAX_FILE - 1):
        put = client.put(f"{url}/api/files/fill/{index}.bin", content=b"z" * MAX_FILE, headers=headers)
        assert put.status_code == 201, put.text
    full = _state(home)
    over = client.put(f"{url}/api/files/fill/last.bin", content=b"z" * MAX_FILE, headers=headers)
    assert over.status_code == 507
    assert over.json()["error"]["code"] == "quota_exceeded"
    assert "quota" in over.json()["error"]["message"]
    assert _state(home) == full
    assert not [path for path in home.rglob("*") if path.name.startswith(".chatgate-tmp")]


def test_files_are_shared_with_the_file_tools(live_app: LiveApp) -> None:
    """Uploaded over HTTP, read and written by the agent's tools, downloaded over HTTP (both launchers)."""
    url, headers = live_app.url, auth("carol")
    with httpx.Client(timeout=90) as http:
        assert http.put(f"{url}/api/files/inbox/brief.md", content=b"# Brief\nship it\n", headers=headers)
        live_app.model.policy = call_then_report(
            [
                ("files_read", {"path": "inbox/brief.md"}),
                ("files_write", {"path": "out/answer.md", "content": "shipped\n"}),
            ]
        )
        chat = http.post(f"{url}/api/agents/chat", json={"message": "do the brief"}, headers=headers)
        assert chat.status_code == 200, chat.text
        outputs = json.loads(chat.json()["response"])
        assert json.loads(outputs[0])["content"] == "# Brief\nship it\n"
        answer = http.get(f"{url}/api/files/out/answer.md", headers=headers)
        assert answer.status_code == 200 and answer.content == b"shipped\n"
        assert http.get(f"{url}/api/files/out/answer.md", headers=auth("dave")).status_code == 404
