"""The file-space attack corpus, shared by the service's tests (`tests/files/test_files_attacks.py`)
and the HTTP endpoints' (`tests/test_files_api.py`): every path here must be refused.

`{outside}` stands for a tree next to the files root holding a secret (`resolve` fills it in).
"""

from __future__ import annotations

from pathlib import Path

from chatgate.files.encoding import space_dir_name

SECRET = b"TOP SECRET outside the space"  # as planted by tests/files/conftest.py's `outside`

LEXICAL_ATTACKS = [
    "../outside/secret.txt",
    "../../outside",
    "..",
    "../",
    "a/../../outside/secret.txt",
    "a/b/../../../outside",
    "../outside/./secret.txt",
    "..\\outside\\secret.txt",
    "a\\..\\..\\outside",
    "..\\",
    "{outside}/secret.txt",
    "{outside}",
    "//{outside}/secret.txt",
    "/etc/passwd",
    "~/secret.txt",
    "secret.txt\x00.md",
    "\x00",
    "../u-bob/notes.txt",
    "../" + space_dir_name("bob"),
    "notes/\u202e..",
    "x" * 300,
    "/".join(["d"] * 40),
    ".chatgate-lock",
]

# Planted in alice's space: name -> target.
SYMLINKS = {
    "link.txt": "{outside}/secret.txt",
    "rel.txt": "../../outside/secret.txt",
    "dirlink": "{outside}",
    "up": "..",
    "loop": "loop",
    "dangling": "{outside}/created-by-attack.txt",
}
SYMLINK_ATTACKS = [
    "link.txt",
    "rel.txt",
    "dirlink",
    "dirlink/secret.txt",
    "dirlink/sub/inner.txt",
    "dirlink/new.txt",
    "dirlink/sub",
    "up/" + space_dir_name("bob") + "/notes.txt",
    "up/" + space_dir_name("bob"),
    "loop",
    "loop/x",
    "dangling",
]

# Percent-encoded separators are not decoded by the file space: ordinary names inside it.
ENCODED_NAMES = ["%2e%2e%2foutside%2fsecret.txt", "..%2f..%2foutside", "．．/outside/secret.txt"]


def resolve(path: str, outside: Path) -> str:
    """`path` with `{outside}` replaced by the real outside tree."""
    return path.replace("{outside}", str(outside))


def plant_symlinks(home: Path, outside: Path) -> None:
    """Plant `SYMLINKS` in the space folder `home`."""
    for name, target in SYMLINKS.items():
        (home / name).symlink_to(resolve(target, outside))
