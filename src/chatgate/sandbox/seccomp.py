"""The system-call filter of a tool server: no programs, no tracing, no new processes, no Unix sockets.

Compiled with libseccomp (through `pyseccomp`, ctypes over the system's `libseccomp.so.2`): it is
the reference compiler used by container runtimes and knows each architecture's traps (x32 system
call numbers, multiplexed `socketcall`), which a hand-written BPF program easily gets wrong. The
program is compiled once (in the fork template, before any request) and exported as BPF; each tool
server only loads those bytes with one `prctl`, about a tenth of what `seccomp_load` costs by
recompiling the filter every time.

Denied (EPERM unless noted), everything else allowed:
- running programs: `execve`, `execveat`;
- reading or writing other processes: `ptrace`, `process_vm_readv`, `process_vm_writev`, `kcmp`,
  `pidfd_getfd`;
- new processes: `fork`, `vfork`, `clone` without `CLONE_THREAD` (threads still work), `clone3`
  (ENOSYS, so the C library falls back to `clone`, whose flags the filter can read);
- new namespaces and mounts: `unshare`, `setns`, `mount`, `umount2`, `pivot_root`, `chroot`;
- Unix-domain sockets (`socket(AF_UNIX, …)`; `socketpair` stays, it reaches nothing): they would
  reach any listening path (a fork template, a Docker socket), which Landlock before ABI 9 cannot
  stop;
- kernel attack surface a tool never needs: `bpf`, `io_uring_setup`, `userfaultfd`,
  `perf_event_open`, `keyctl`, `add_key`, `request_key`, kernel modules and `kexec`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
from functools import cache
from typing import Any

_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_PR_GET_SECCOMP = 21
_CLONE_THREAD = 0x00010000
_BPF_INSTRUCTION_BYTES = 8

_DENIED = (
    "execve",
    "execveat",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "fork",
    "vfork",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "bpf",
    "io_uring_setup",
    "userfaultfd",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
)


def _pyseccomp() -> Any:
    """The `pyseccomp` module, or None when libseccomp is not installed (it raises on import then)."""
    try:
        import pyseccomp
    except (ImportError, OSError, RuntimeError):
        return None
    return pyseccomp


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def available() -> bool:
    """True when a filter can be compiled here and the kernel has seccomp filtering."""
    if _pyseccomp() is None:
        return False
    return int(_libc().prctl(_PR_GET_SECCOMP, 0, 0, 0, 0)) >= 0


@cache
def compiled_filter(*, allow_unix_sockets: bool) -> bytes:
    """The filter as a BPF program (`struct sock_filter[]`), compiled once per process.

    Raises:
        OSError: libseccomp is missing or refused a rule.
    """
    seccomp = _pyseccomp()
    if seccomp is None:
        raise OSError(errno.ENOSYS, "libseccomp is not installed")
    denied = seccomp.ERRNO(errno.EPERM)
    program = seccomp.SyscallFilter(seccomp.ALLOW)
    # A system call of another architecture (32-bit entry points on a 64-bit kernel) kills the
    # process: the rules below name this architecture's numbers only.
    program.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    for name in _DENIED:
        program.add_rule(denied, name)
    program.add_rule(denied, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, _CLONE_THREAD, 0))
    program.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    if not allow_unix_sockets:
        program.add_rule(denied, "socket", seccomp.Arg(0, seccomp.EQ, socket.AF_UNIX))
    fd = os.memfd_create("chatgate-seccomp", os.MFD_CLOEXEC)
    try:
        with os.fdopen(os.dup(fd), "wb") as sink:
            program.export_bpf(sink)
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@cache
def _program_struct(program: bytes) -> tuple[ctypes.Array[ctypes.c_char], _SockFprog]:
    # Built once (in the fork template) and kept: the buffer must outlive the struct pointing at it.
    if not program or len(program) % _BPF_INSTRUCTION_BYTES:
        raise OSError(errno.EINVAL, "not a BPF program")
    buffer = ctypes.create_string_buffer(program, len(program))
    return buffer, _SockFprog(len(program) // _BPF_INSTRUCTION_BYTES, ctypes.addressof(buffer))


def prepare_load(program: bytes) -> None:
    """Do everything `load` needs except loading (the fork template, once)."""
    _program_struct(program)
    _libc().prctl  # noqa: B018 - resolve the symbol now, not in each child


def load(program: bytes) -> None:
    """Install `program` on the calling thread (and what it creates later); irreversible.

    Needs no_new_privs (set by the Landlock step) or CAP_SYS_ADMIN.

    Raises:
        OSError: the kernel refused the program.
    """
    _buffer, fprog = _program_struct(program)
    if _libc().prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
