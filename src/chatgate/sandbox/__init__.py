"""Kernel containment of every bound tool server (`MCP_SANDBOX=auto|required|off`).

A tool server runs code chatgate does not fully control: tools, operators' modules, parsers fed by
upstream answers. The process boundary keeps the model's arguments in line; this package keeps
*code* running inside the process in line, with the kernel: after `contain(settings)` the process
reads only code and configuration, writes only its user's folder (and on SQLite the database file),
connects over TCP only to the database and the configured APIs' ports, runs no program, starts no
process, traces and signals nothing outside itself, holds no capability and cannot be dumped.

Libraries, and why:
- `landlockpy` for Landlock: maintained, pure Python over ctypes (no compiler at install), typed,
  knows every ABI through 11 (filesystem, TCP ports, scoping) and applies to the current process.
  `landlock` (filesystem rules only, no network or scoping), `py-landlock` (stops at ABI 7) and
  `sandlock` (self-confinement limited to filesystem paths; built around launching a new program
  under a Rust supervisor) do not fit.
- `pyseccomp` for seccomp: ctypes over the system's libseccomp, the filter compiler container
  runtimes use, which handles each architecture's pitfalls (x32 numbers). `seccompy` (pure BPF) has
  no x32 guard, so a deny-list it builds can be bypassed where the kernel enables x32; the official
  bindings and `python-prctl` need a compiler. The compiled program is loaded with one `prctl`.
- Capabilities and `PR_SET_DUMPABLE`: no pure-Python package wraps them; `privileges` makes the
  four documented calls itself.

Layout: `support` (what the kernel offers, the level), `plan` (what to allow, computed once),
`landlock`, `seccomp`, `privileges` (the mechanisms), `contain` (the entry point).
"""

from __future__ import annotations

from chatgate.sandbox.contain import Containment, SandboxError, contain, plan_for, prepare
from chatgate.sandbox.support import KernelSupport, SandboxLevel, kernel_support
from chatgate.spawn import SandboxMode

__all__ = [
    "Containment",
    "KernelSupport",
    "SandboxError",
    "SandboxLevel",
    "SandboxMode",
    "contain",
    "kernel_support",
    "plan_for",
    "prepare",
]
