"""Browser tests: headless Chromium (Debian's `chromium`) driven by `playwright-core` scripts in tests/node.

A script drives the page through `tests/node/browser-harness.mjs`, which always prints one JSON report;
`run_browser_script` returns it, or fails the test with what the page logged and fetched, so a failure
seen once (a flake) can be diagnosed from the test output alone.

Skipped, with the reason, where Node.js, Chromium or the npm package cannot be had;
`CHATGATE_REQUIRE_BROWSER=1` (set by `.ci/run`) turns that skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support.node import NODE_DIR, install_node_packages

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def _unavailable(reason: str) -> None:
    if os.environ.get("CHATGATE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CHATGATE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser_tools() -> tuple[Path, Path]:
    """Node.js and Chromium, with `playwright-core` installed into tests/node (npm ci) if missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    found = [path for path in map(shutil.which, CHROMIUM_NAMES) if path]
    chromium = os.environ.get("CHATGATE_CHROMIUM") or (found[0] if found else None)
    if not node or not npm:
        _unavailable("Node.js and npm are not installed; the browser test drives Chromium from Node")
    if not chromium or not Path(chromium).is_file():
        _unavailable("Chromium is not installed (Debian: apt-get install chromium; or set CHATGATE_CHROMIUM)")
    assert node and npm and chromium
    failure = install_node_packages(npm, ["playwright-core"])
    if failure is not None:
        _unavailable(f"npm ci failed (the npm registry must be reachable):\n{failure}")
    return Path(node), Path(chromium)


def diagnostics(report: dict[str, Any]) -> str:
    """The report's record of the page, as lines for a failure message: step, error, console, network."""
    lines = [f"step: {report.get('step')}"]
    if report.get("error"):
        lines.append(f"error: {report['error']}")
    for title, key in (("HTTP errors", "httpErrors"), ("failed requests", "failedRequests")):
        lines += [f"{title}:"] + [f"  {json.dumps(entry)}" for entry in report.get(key, [])]
    lines += ["console:"] + [f"  {json.dumps(entry)}" for entry in report.get("console", [])]
    lines += ["network (last 40):"] + [f"  {json.dumps(entry)}" for entry in report.get("network", [])[-40:]]
    if report.get("pageText") is not None:
        lines.append(f"page text:\n{str(report['pageText'])[-3000:]}")
    return "\n".join(lines)


def run_browser_script(node: Path, script: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    """Run `node tests/node/<script> *args` and return its JSON report.

    Fails the test, with `diagnostics` and the script's stderr, when the script exits non-zero or
    prints no report.
    """
    completed = subprocess.run(
        [str(node), script, *args],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(completed.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"{script} exited {completed.returncode} without a report\n"
            f"stdout: {completed.stdout[-2000:]}\nstderr: {completed.stderr[-4000:]}"
        )
    if completed.returncode != 0:
        stderr = completed.stderr[-2000:]
        pytest.fail(f"{script} exited {completed.returncode}\n{diagnostics(report)}\nstderr: {stderr}")
    return report


def assert_no_console_errors(report: dict[str, Any]) -> None:
    """The page logged no console error and threw nothing; else fail with the full record."""
    assert report["consoleErrors"] == [], diagnostics(report)
