"""Helpers for launcher tests: both launchers, process and descriptor accounting."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import psutil
import pytest

from chatgate.config import Settings
from chatgate.launcher import Launcher
from chatgate.launcher.exec import ExecLauncher

LAUNCHERS = ["exec", "fork"] if sys.platform.startswith("linux") else ["exec"]


def launcher_settings(tmp_path: Path, **env: object) -> Settings:
    values: dict[str, object] = {"CHATGATE_STATE_DIR": tmp_path, "FILES_ROOT": tmp_path / "files"}
    values.update(env)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def make_launcher(kind: str, settings: Settings) -> Launcher:
    if kind == "fork":
        from chatgate.launcher.fork import ForkLauncher

        return ForkLauncher(settings)
    return ExecLauncher(settings)


def live_descendants(pid: int | None = None) -> set[int]:
    """Pids of the live (non-zombie) descendants of `pid` (default: this process)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return set()
    alive = set()
    for child in children:
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def holds_within(predicate: Callable[[], bool], within: float) -> bool:
    """Poll `predicate` until it holds (True) or `within` seconds pass (False).

    Polling, because what these tests wait for (a process exiting, a descriptor closing) has no
    event to wait on; `within` is a ceiling that only catches a hang, never a measure of speed.
    """
    deadline = time.monotonic() + within
    while not predicate():  # no event exists for a process exit
        if time.monotonic() > deadline:
            return False
        await anyio.sleep(0.01)
    return True


async def eventually(predicate: Callable[[], bool], *, within: float = 60.0) -> None:
    """Poll `predicate` until it holds, failing after `within` seconds (a generous ceiling)."""
    if not await holds_within(predicate, within):
        pytest.fail(f"condition not reached within {within}s")


def template_pid(launcher: Launcher) -> int | None:
    return getattr(launcher, "template_pid", None)


def session_pid(server: object, before: set[int]) -> int:
    """The pid of the tool server behind `server`.

    The fork launcher's server knows it; for exec it is the one process that appeared since `before`.
    """
    pid = getattr(server, "pid", None)
    if isinstance(pid, int):
        return pid
    (new,) = live_descendants() - before
    return new


def template_children(launcher: Launcher) -> set[int]:
    """Live children of the fork template (idle spares and bound tool servers)."""
    template = template_pid(launcher)
    return live_descendants(template) if template is not None else set()


async def spares_settled(launcher: Launcher, count: int = 2) -> set[int]:
    """Wait until the template holds exactly its `count` idle spares; return their pids."""
    await eventually(lambda: len(template_children(launcher)) == count)
    return template_children(launcher)
