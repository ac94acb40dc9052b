"""The Node.js clients in tests/node (the AI SDK, playwright-core), installed from its lockfile."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def install_node_packages(npm: str, packages: Iterable[str], *, timeout: float = 600) -> str | None:
    """Run `npm ci` in tests/node unless every one of `packages` is installed already.

    Returns None when they are there, else npm's error output (its last 2,000 characters), for the
    caller to skip or fail with.
    """
    if all((NODE_DIR / "node_modules" / package).exists() for package in packages):
        return None
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if installed.returncode != 0:
        return installed.stderr[-2000:]
    return None


def run_node_script(
    node: Path, script: str, *args: str, stdin: str | None = None, timeout: float = 120
) -> Any:
    """Run `node tests/node/<script> *args` (with `stdin`) and return the JSON it printed.

    Fails the test with the script's stderr when it exits non-zero.
    """
    completed = subprocess.run(
        [str(node), script, *args],
        cwd=NODE_DIR,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)
