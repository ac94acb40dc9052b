"""CPU of a process tree, counting the processes that already exited.

Method (Linux `/proc/<pid>/stat`, read through psutil):

- A live process's `utime + stime` is the CPU of all its threads, including threads that ended.
- When a parent *waits for* (reaps) a child, the kernel adds the child's CPU — with that of every
  descendant the child had itself reaped — to the parent's `cutime + cstime`. The fork template
  reaps its tool servers with `waitpid`; exec tool servers are children of the API process, reaped by
  its event loop's child watcher. So a tree sample is
  `Σ over the root and its live descendants of (utime + stime + cutime + cstime)`.
- Sampled at **quiescent** moments (no request in flight, every tool server exited and reaped, only
  the template and its idle spares alive), the difference of two samples is exactly the CPU the
  tree spent in between: a process born and reaped in between appears once, in its reaper's
  `cutime`; a spare forked in between and still alive appears as itself; nothing exits while we read.
  `wait_quiet` establishes that moment; `sample` refuses a tree holding an unreaped zombie.
- Resolution: the kernel keeps CPU time in nanoseconds but reports these four counters truncated
  to clock ticks (`SC_CLK_TCK`, 100 Hz here): each counter read is up to 10 ms short. Over a batch
  of 50 chats on a two-process tree that is a standard error of ~0.25 ms per chat; the driver
  reports the spread between batches.
- Checked against children that report their own `getrusage` (self + reaped grandchildren) before
  `os._exit`: the tree's delta exceeded the parent's own CPU plus the reported sum by ~0.5 ms per
  child, the kernel's exit work after the child's last report.

What this does not count: a child whose parent never waits for it (its CPU goes nowhere), and the
load generator and model stub, which run in processes of their own on purpose.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import psutil

from chatgate.forkserver.protocol import PROCESS_NAME_SPARE, PROCESS_NAME_TEMPLATE

# Descendants that idle between requests: the fork template and its unbound spares.
IDLE_MACHINERY = frozenset({PROCESS_NAME_TEMPLATE, PROCESS_NAME_SPARE})


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds consumed so far: by the whole tree, and by the root process's own threads."""

    tree: float
    root: float
    processes: int

    def __sub__(self, other: CpuSample) -> CpuSample:
        return CpuSample(self.tree - other.tree, self.root - other.root, self.processes)


class NotQuiescentError(RuntimeError):
    """The tree had a zombie (exited, not yet reaped): its CPU would be counted twice or not at all."""


def _all_cpu(process: psutil.Process) -> tuple[float, float]:
    times = process.cpu_times()
    own = times.user + times.system
    return own + times.children_user + times.children_system, own


def sample(root_pid: int) -> CpuSample:
    """The tree's CPU so far (see the module docstring); call it at a quiescent moment."""
    root = psutil.Process(root_pid)
    total, own = _all_cpu(root)
    count = 1
    for child in root.children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                raise NotQuiescentError(f"pid {child.pid} exited and is not reaped yet")
            child_total, _ = _all_cpu(child)
        except psutil.NoSuchProcess as exc:
            raise NotQuiescentError(f"pid {child.pid} exited while being read") from exc
        total += child_total
        count += 1
    return CpuSample(tree=total, root=own, processes=count)


def busy_descendants(root_pid: int) -> list[int]:
    """Descendants that are neither idle machinery nor gone: tool servers, zombies, anything else."""
    busy = []
    for child in psutil.Process(root_pid).children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE or child.name() not in IDLE_MACHINERY:
                busy.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return busy


async def wait_quiet(root_pid: int, *, within: float = 30.0, settle: float = 0.1) -> None:
    """Wait until only idle machinery is left under `root_pid`, then `settle` seconds more.

    The settle time covers the API process's own work after a response (the SDK's client task
    unwinding after the child exits); nothing the bench does is in flight by then.
    """
    deadline = time.monotonic() + within
    while busy_descendants(root_pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"tool servers still running under pid {root_pid} after {within:g} s")
        await asyncio.sleep(0.01)
    await asyncio.sleep(settle)


async def quiet_sample(root_pid: int) -> CpuSample:
    """`wait_quiet`, then `sample`, retrying if a process exits in between."""
    for _ in range(20):
        await wait_quiet(root_pid)
        try:
            return sample(root_pid)
        except NotQuiescentError:
            continue
    raise NotQuiescentError(f"the tree under pid {root_pid} never became quiet")
