"""Process lifecycle of the child: die with the parent, exit without interpreter teardown."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_WATCHDOG_INTERVAL_SECONDS = 0.5


def die_with_parent(expected_parent: int | None) -> None:
    """Make sure this process does not outlive the process that launched it.

    Three layers: the parent's death closes our stdin (the server then returns); on Linux the kernel
    sends SIGKILL through PR_SET_PDEATHSIG; and a watchdog thread notices re-parenting anywhere else.
    """
    set_parent_death_signal()
    parent = expected_parent or os.getppid()
    # The parent may have died before prctl took effect: then we were already re-parented.
    if os.getppid() != parent:
        hard_exit(1)
    start_parent_watchdog(parent)


def start_parent_watchdog(parent: int) -> None:
    """Start the thread that exits this process once it is re-parented away from `parent`."""
    watchdog = threading.Thread(target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True)
    watchdog.start()


def set_process_name(name: str) -> None:
    """Name this process in `ps`/`top` (Linux `comm`, at most 15 bytes); a no-op elsewhere."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - exotic libc
            pass


def set_parent_death_signal() -> None:
    """Ask the kernel (Linux) to SIGKILL this process when the thread that forked it exits."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - exotic libc
            pass


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_WATCHDOG_INTERVAL_SECONDS)
        if os.getppid() != parent:
            hard_exit(1)


def hard_exit(code: int) -> None:
    """Exit now, skipping interpreter teardown (~0.2 s of module finalization nobody needs)."""
    try:
        sys.stderr.flush()
    finally:
        os._exit(code)
