"""One tool server process as the API process sees it: its pipes, and a stop that always works.

Both launchers end up holding the same thing: a child's pid and its stdin/stdout pipe ends. The
exec launcher spawned the child itself (in its own session, so the whole process group can be
signalled, and it reaps it); the fork launcher's child belongs to the template, which reaps it, and
comes with a pidfd so that signalling it can never hit a recycled pid.

`stop` is the one teardown, for every way a request ends: close the pipes (the child reads EOF and
exits), then SIGTERM after a short grace, then SIGKILL, each step bounded. It is shielded from
cancellation and never raises, so a request that is cancelled while launching, running or tearing
down still leaves no process behind.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path

import anyio

from chatgate.launcher.pipes import ChildPipes

logger = logging.getLogger(__name__)

# A child reads EOF and exits within milliseconds; these only matter for one that is stuck.
STOP_GRACE_SECONDS = 2.0
KILL_WAIT_SECONDS = 5.0
# Without a pidfd (not Linux), exit is noticed by polling.
_EXIT_POLL_SECONDS = 0.01


class ToolProcess:
    """A tool server child: `pipes` to talk to it, `stop()` to make sure it is gone."""

    def __init__(
        self, pipes: ChildPipes, *, popen: subprocess.Popen[bytes] | None = None, pidfd: int | None = None
    ) -> None:
        self.pipes = pipes
        self._popen = popen  # set when this process is our child (exec): we signal its group and reap it
        self._pidfd = pidfd
        self._stopped = False

    @property
    def pid(self) -> int:
        return self.pipes.pid

    @classmethod
    def spawn(cls, args: Sequence[str], *, env: Mapping[str, str], cwd: Path | str) -> ToolProcess:
        """Start `args` with its stdin and stdout on new pipes, in its own session.

        Synchronous on purpose: between the spawn and the caller's `try`, no cancellation can land.

        Raises:
            OSError: the process could not be started.
        """
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        try:
            popen = subprocess.Popen(  # our own interpreter and module, no shell
                list(args), stdin=stdin_r, stdout=stdout_w, env=dict(env), cwd=cwd, start_new_session=True
            )
        except BaseException:
            for fd in (stdin_w, stdout_r):
                os.close(fd)
            raise
        finally:
            for fd in (stdin_r, stdout_w):
                os.close(fd)
        return cls(
            ChildPipes(popen.pid, stdin_fd=stdin_w, stdout_fd=stdout_r),
            popen=popen,
            pidfd=_pidfd_of(popen.pid),
        )

    def exited(self) -> bool:
        """True once the process has exited (for our own child: and been reaped)."""
        if self._popen is not None:
            return self._popen.poll() is not None
        if self._pidfd is not None:
            poller = select.poll()  # not select(): descriptors past 1023 are common in the API process
            poller.register(self._pidfd, select.POLLIN)
            return bool(poller.poll(0))
        return False  # the template's child without a pidfd: the template reaps it, we cannot tell

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Close the pipes; SIGTERM if it has not exited after `grace`; SIGKILL if that is ignored.

        Idempotent, shielded from cancellation, bounded (`grace + STOP_GRACE_SECONDS +
        KILL_WAIT_SECONDS` at most), and never raises.
        """
        if self._stopped:
            return
        self._stopped = True
        with anyio.CancelScope(shield=True):
            self.pipes.close()
            try:
                if await self._wait_exited(grace):
                    return
                self._signal(signal.SIGTERM)
                if await self._wait_exited(STOP_GRACE_SECONDS):
                    return
                logger.warning("tool server %d ignored SIGTERM; killing it", self.pid)
                self._signal(signal.SIGKILL)
                if not await self._wait_exited(KILL_WAIT_SECONDS):
                    logger.error("tool server %d survived SIGKILL for %.0fs", self.pid, KILL_WAIT_SECONDS)
            except Exception as exc:  # teardown must never mask the request's own outcome
                logger.error("stopping tool server %d failed: %s", self.pid, type(exc).__name__)
            finally:
                self._close_pidfd()

    async def _wait_exited(self, limit: float) -> bool:
        if self._popen is None and self._pidfd is None:
            return True  # the template's child without a pidfd: closing the pipes is all we can do
        with anyio.move_on_after(limit):
            if self._pidfd is not None and not self.exited():
                await anyio.wait_readable(self._pidfd)  # readable once the process has exited
            # Reaps our own child; polls where there is no pidfd (no event exists for a process exit).
            while not self.exited():  # noqa: ASYNC110
                await anyio.sleep(_EXIT_POLL_SECONDS)
            return True
        return False

    def _signal(self, signum: int) -> None:
        with suppress(ProcessLookupError, PermissionError):
            if self._popen is not None:
                # Not reaped yet, so the pid (and its process group) cannot have been reused.
                if self._popen.poll() is None:
                    os.killpg(self.pid, signum)
            elif self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signum)

    def _close_pidfd(self) -> None:
        if self._pidfd is None:
            return
        fd, self._pidfd = self._pidfd, None
        with suppress(RuntimeError, LookupError):
            anyio.notify_closing(fd)
        with suppress(OSError):
            os.close(fd)


def _pidfd_of(pid: int) -> int | None:
    """A pidfd for `pid` (Linux 5.3+), or None where there is none."""
    if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None
