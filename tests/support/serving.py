"""`chatgate serve` as a real subprocess: what an operator runs, with its exit status and stderr."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.processes import wait_until
from support.servers import free_port

# Generous: an interpreter start plus the app's imports take seconds on a loaded 2-core machine.
START_TIMEOUT_SECONDS = 90.0


def serve_env(state_dir: Path, **env: str) -> dict[str, str]:
    """The test process's environment (already scrubbed of auth and model variables) plus `env`."""
    return {**os.environ, "CHATGATE_STATE_DIR": str(state_dir), **env}


def serve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "chatgate", "serve", "--port", str(port)]


def run_to_exit(
    env: dict[str, str], cwd: Path, command: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `chatgate serve` (or `command`) expecting it to refuse to start; it must exit by itself."""
    return subprocess.run(
        command or serve_command(free_port()),
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=START_TIMEOUT_SECONDS,
        check=False,
    )


@dataclass
class Served:
    url: str
    stderr_path: Path
    process: subprocess.Popen[bytes]

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@contextmanager
def serving(env: dict[str, str], cwd: Path) -> Iterator[Served]:
    """`chatgate serve` on a free port, ready (`/healthz` answers) inside the block, stopped after."""
    port = free_port()
    stderr_path = cwd / f"serve-{port}.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            serve_command(port), stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=cwd
        )
    served = Served(url=f"http://127.0.0.1:{port}", stderr_path=stderr_path, process=process)
    try:
        if not wait_until(lambda: process.poll() is not None or _healthy(served.url), START_TIMEOUT_SECONDS):
            raise TimeoutError(f"chatgate serve did not start: {served.stderr[-2000:]}")
        if process.poll() is not None:
            raise RuntimeError(f"chatgate serve exited {process.returncode}: {served.stderr[-2000:]}")
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
