"""What containment this kernel and machine can give, and the level that follows for a mode.

Probed without side effects (no ruleset is enforced): the Landlock ABI version the kernel reports,
and whether libseccomp can be loaded. Both the API process (to log and report the level once at
start-up, and to refuse `MCP_SANDBOX=required` early) and each tool server (to decide what to apply)
ask the same questions, so what `/readyz` says is what the children do.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from typing import Literal

from chatgate.spawn import SandboxMode

SandboxLevel = Literal["full", "partial", "off"]

# Landlock ABI versions and the kernels that brought them (docs.kernel.org/userspace-api/landlock.html).
ABI_FILESYSTEM = 1  # Linux 5.13
ABI_REFER = 2  # 5.19: moving files between folders
ABI_TRUNCATE = 3  # 6.2
ABI_NETWORK = 4  # 6.7: TCP bind/connect port rules
ABI_SCOPE = 6  # 6.12: signal and abstract-socket scoping
FULL_ABI = ABI_SCOPE


@dataclass(frozen=True)
class KernelSupport:
    """The containment features available here."""

    linux: bool
    landlock_abi: int  # 0: no Landlock (old kernel, disabled at boot, not Linux)
    seccomp: bool  # libseccomp found and the kernel accepts filters

    @property
    def missing(self) -> tuple[str, ...]:
        """Human-readable names of what cannot be applied, empty when containment is complete."""
        if not self.linux:
            return ("Linux (Landlock, seccomp)",)
        missing: list[str] = []
        if self.landlock_abi < ABI_FILESYSTEM:
            missing.append("Landlock (Linux 5.13+, enabled at boot)")
        else:
            if self.landlock_abi < ABI_TRUNCATE:
                missing.append(f"Landlock ABI {ABI_TRUNCATE} file rules (Linux 6.2)")
            if self.landlock_abi < ABI_NETWORK:
                missing.append(f"Landlock ABI {ABI_NETWORK} TCP port rules (Linux 6.7)")
            if self.landlock_abi < ABI_SCOPE:
                missing.append(f"Landlock ABI {ABI_SCOPE} signal and abstract-socket scoping (Linux 6.12)")
        if not self.seccomp:
            missing.append("seccomp (libseccomp2)")
        return tuple(missing)

    def level(self, mode: SandboxMode) -> SandboxLevel:
        """What a tool server launched under `mode` gets."""
        if mode == "off":
            return "off"
        return "partial" if self.missing else "full"

    def describe(self, mode: SandboxMode) -> str:
        """One line for the start-up log."""
        level = self.level(mode)
        if level == "off":
            return "tool server sandbox off (MCP_SANDBOX=off)"
        found = f"Landlock ABI {self.landlock_abi}" if self.landlock_abi else "no Landlock"
        found += ", seccomp" if self.seccomp else ", no seccomp"
        if level == "full":
            return f"tool server sandbox: full ({found})"
        return f"tool server sandbox: partial ({found}); missing: {'; '.join(self.missing)}"


@cache
def kernel_support() -> KernelSupport:
    """Probe once per process (the answer cannot change while it runs)."""
    if not sys.platform.startswith("linux"):
        return KernelSupport(linux=False, landlock_abi=0, seccomp=False)
    from chatgate.sandbox import landlock, seccomp

    return KernelSupport(linux=True, landlock_abi=landlock.abi_version(), seccomp=seccomp.available())
