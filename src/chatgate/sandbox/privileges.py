"""Process privileges of a tool server: not dumpable, no capabilities, no privilege gain.

No maintained pure-Python package wraps `capset` and the capability `prctl`s (`python-prctl` and
`prctl` are C extensions needing a compiler), so these are a few direct ctypes calls into the C
library, each documented in capabilities(7) and prctl(2).
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def prepare() -> None:
    """Resolve the C library and build the structures now (the fork template, once)."""
    libc = _libc()
    for name in ("prctl", "capset", "capget"):
        getattr(libc, name)
    _no_capabilities()


@cache
def _no_capabilities() -> tuple[_CapHeader, ctypes.Array[_CapData]]:
    # All zero: nothing effective, permitted or inheritable.
    return _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()


def _check(result: int) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def set_no_new_privs() -> None:
    """Neither this process nor anything it could start may gain privileges (setuid, file caps)."""
    _check(_libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))


def set_not_dumpable() -> None:
    """No core dumps, and other processes of the same user cannot ptrace it or read its /proc files."""
    _check(_libc().prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0))


def drop_capabilities() -> None:
    """Drop every capability the process holds: ambient, effective, permitted and inheritable.

    On a root-run machine this is what makes uid 0 an ordinary user to the kernel's permission
    checks (no CAP_DAC_OVERRIDE, CAP_SYS_PTRACE, CAP_KILL, CAP_NET_RAW, …). Without privileges it
    changes nothing and still succeeds. The bounding set (what a new program could regain) is left
    alone: a contained tool server can start no program (seccomp), and no_new_privs would deny the
    gain anyway; dropping it costs one call per capability, about a tenth of the sandbox's budget.

    Raises:
        OSError: the kernel refused (not expected: dropping is always allowed).
    """
    libc = _libc()
    _check(libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
    header, data = _no_capabilities()
    _check(libc.capset(ctypes.byref(header), data))


def has_capabilities() -> bool:
    """True while this process holds any effective or permitted capability (or when unknown)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc().capget(ctypes.byref(header), data) != 0:
        return True
    return any(item.permitted or item.effective or item.inheritable for item in data)
