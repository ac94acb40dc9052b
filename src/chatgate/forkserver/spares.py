"""Spare children: forked ahead of demand, each waiting unbound on its own control pipe.

A spare is what the template hands a request: the template keeps the write ends of the child's
stdin and control pipe and the read end of its stdout, and sends the API process the stdio ends
and a pidfd (which signals exactly this process, never a recycled pid).
"""

from __future__ import annotations

import logging
import os
import signal
from contextlib import suppress
from dataclasses import dataclass

from chatgate.forkserver.forked import ChildLimits, run_forked_child
from chatgate.mcp_server.server import StrictMCPServer

logger = logging.getLogger("chatgate.forkserver.template")


@dataclass
class Spare:
    """An unbound child waiting on its control pipe, and the template's ends of its pipes."""

    pid: int
    stdin_w: int
    stdout_r: int
    control_w: int
    pidfd: int | None = None  # handed to the API with the pipes: it signals exactly this process

    def reply_fds(self) -> list[int]:
        fds = [self.stdin_w, self.stdout_r]
        return fds if self.pidfd is None else [*fds, self.pidfd]

    def close(self) -> None:
        for fd in (self.stdin_w, self.stdout_r, self.control_w, self.pidfd):
            if fd is not None:
                with suppress(OSError):
                    os.close(fd)


def fork_spare(limits: ChildLimits, server: StrictMCPServer) -> Spare | None:
    """Fork an unbound child that waits for its bind request; None if fork fails."""
    stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    stdout_r, stdout_w = os.pipe2(os.O_CLOEXEC)
    control_r, control_w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.fork()
    except OSError:
        logger.exception("fork failed")
        for fd in (stdin_r, stdin_w, stdout_r, stdout_w, control_r, control_w):
            os.close(fd)
        return None
    if pid == 0:  # the child: never returns
        run_forked_child(
            stdin_fd=stdin_r,
            stdout_fd=stdout_w,
            control_fd=control_r,
            limits=limits,
            template_pid=os.getppid(),
            server=server,
        )
    for fd in (stdin_r, stdout_w, control_r):
        os.close(fd)
    # Opened before anything can reap the child, so it can never name a recycled pid.
    return Spare(pid, stdin_w=stdin_w, stdout_r=stdout_r, control_w=control_w, pidfd=_pidfd_of(pid))


def kill_child(pid: int) -> None:
    """SIGKILL `pid` (a child of this template, not yet reaped); gone already is fine."""
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _pidfd_of(pid: int) -> int | None:
    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):  # an older kernel: the API then stops children by closing pipes
        return None
    os.set_inheritable(fd, False)
    return fd
