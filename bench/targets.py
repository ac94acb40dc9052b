"""Issue 16's isolation targets, fork against no isolation side by side, interleaved in one run.

- **ready**: a fork launcher and the no-isolation launcher (`bench.baseline`) in this process;
  sequential sessions (`launch()` entered → connected server with its tool list, `bench.sessions`),
  in batches that alternate between the two for `rounds` rounds. Reported: fork's ready p50/p99 and
  the no-isolation figure beside it, and the CPU of each launcher's whole tree per session (ready
  in wall time is mostly waiting for a core on a loaded machine; the CPU it needs is not).
- **throughput**: two services (`bench.serve --mode fork` and `--mode baseline`, the scripted model
  making one `whoami` call per chat) running at once; batches of chats at a fixed concurrency (16)
  alternate between them for `rounds` rounds. Reported: chats/s of each per round, the ratio per
  round (fork ÷ no isolation), and the pooled ratio (all chats ÷ all seconds of each).

Alternating batches is what makes the ratio mean something on a shared machine: a change in load
lands on both within a batch's length, and the spread between rounds shows how much it moved.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.chat import ServiceUnderLoad, run_level
from bench.machine import load_average
from bench.sessions import WARM_UP_SESSIONS, bench_settings, make_launcher, one_session, settle, tree_cpu
from bench.stats import percentile
from chatgate.launcher import Launcher

ISOLATED, NONE = "fork", "baseline"


@dataclass
class TargetsResult:
    """Raw measurements of `measure_targets` (times in ms, throughput in chats/s)."""

    concurrency: int
    ready_ms: dict[str, list[float]] = field(default_factory=lambda: {ISOLATED: [], NONE: []})
    # CPU of the launcher's whole tree (this process, template, tool servers) per session, per batch:
    # unlike wall time, barely moved by other work on the machine.
    session_cpu_ms: dict[str, list[float]] = field(default_factory=lambda: {ISOLATED: [], NONE: []})
    throughput: dict[str, list[float]] = field(default_factory=lambda: {ISOLATED: [], NONE: []})
    chats: dict[str, int] = field(default_factory=lambda: {ISOLATED: 0, NONE: 0})
    seconds: dict[str, float] = field(default_factory=lambda: {ISOLATED: 0.0, NONE: 0.0})
    failures: dict[str, int] = field(default_factory=lambda: {ISOLATED: 0, NONE: 0})
    load_per_round: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """p50/p99 ready per launcher, throughput ratio per round, pooled and its median."""
        per_round = [
            fork / none if none else 0.0
            for fork, none in zip(self.throughput[ISOLATED], self.throughput[NONE], strict=True)
        ]
        pooled = {
            mode: (self.chats[mode] - self.failures[mode]) / self.seconds[mode] if self.seconds[mode] else 0.0
            for mode in (ISOLATED, NONE)
        }
        return {
            "concurrency": self.concurrency,
            "ready_ms_p50": {mode: percentile(values, 50) for mode, values in self.ready_ms.items()},
            "ready_ms_p99": {mode: percentile(values, 99) for mode, values in self.ready_ms.items()},
            "session_cpu_ms": {
                mode: statistics.median(values) if values else None
                for mode, values in self.session_cpu_ms.items()
            },
            "throughput_per_round": self.throughput,
            "throughput_ratio_per_round": per_round,
            "throughput_ratio_median": statistics.median(per_round) if per_round else None,
            "throughput_pooled": pooled,
            "throughput_ratio_pooled": pooled[ISOLATED] / pooled[NONE] if pooled[NONE] else None,
            "failures": self.failures,
            "load_average_per_round": self.load_per_round,
        }

    def as_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "raw": asdict(self)}


async def measure_ready(result: TargetsResult, state_dir: Path, *, sessions: int, rounds: int) -> None:
    """Fork and no-isolation session ready times, in alternating batches (`result.ready_ms`)."""
    launchers = {
        mode: make_launcher(mode, bench_settings(state_dir / f"ready-{mode}")) for mode in result.ready_ms
    }
    for launcher in launchers.values():
        await launcher.start()
    try:
        for mode, launcher in launchers.items():
            for index in range(WARM_UP_SESSIONS):
                await one_session(launcher, f"warm-{mode}-{index}")
            await _settle(mode, launcher)
        per_batch = max(1, sessions // rounds)
        for round_index in range(rounds):
            order = list(launchers) if round_index % 2 == 0 else list(reversed(launchers))
            for mode in order:
                cpu_before = tree_cpu(launchers[mode])
                for index in range(per_batch):
                    ready, _, _ = await one_session(launchers[mode], f"user-{round_index}-{index}")
                    result.ready_ms[mode].append(ready)
                await _settle(mode, launchers[mode])
                spent = tree_cpu(launchers[mode]) - cpu_before
                result.session_cpu_ms[mode].append(spent * 1000 / per_batch)
    finally:
        for launcher in launchers.values():
            await launcher.stop()


async def _settle(mode: str, launcher: Launcher) -> None:
    # `bench.sessions.settle` waits for processes beyond the launcher's spares; the no-isolation
    # launcher has none of its own, and would wait (polling) for the fork launcher's template.
    if mode == ISOLATED:
        await settle(launcher)
    else:
        await asyncio.sleep(0.05)


async def measure_throughput(
    result: TargetsResult, state_dir: Path, *, chats: int, rounds: int, model_latency_ms: float = 0.0
) -> None:
    """Fork and no-isolation chats/s at `result.concurrency`, in alternating batches."""
    services = {
        mode: ServiceUnderLoad(mode, state_dir / f"chat-{mode}", model_latency_ms=model_latency_ms)
        for mode in (ISOLATED, NONE)
    }
    started: list[ServiceUnderLoad] = []
    try:
        for (
            service
        ) in services.values():  # one after the other: two interpreters importing at once only slow both
            await service.__aenter__()
            started.append(service)
            await run_level(service, 1, 3)  # warm-up: template ready, first imports done
        for round_index in range(rounds):
            result.load_per_round.append(load_average())
            order = list(services) if round_index % 2 == 0 else list(reversed(services))
            print(
                f"[targets] throughput round {round_index + 1}/{rounds}, load {load_average()} …", flush=True
            )
            for mode in order:
                level = await run_level(services[mode], result.concurrency, chats)
                result.throughput[mode].append(level.throughput)
                result.chats[mode] += level.chats
                result.seconds[mode] += level.seconds
                result.failures[mode] += level.failures
    finally:
        for service in reversed(started):
            await service.__aexit__(None, None, None)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def table(summary: dict[str, Any], per_chat: dict[str, dict[str, dict[str, Any]]] | None) -> str:
    """Issue 16's targets: what this run measured against each, as ratios where the target is one."""
    lines = ["issue 16 targets, this run (fork vs no isolation interleaved; ratios within the run)"]
    lines.append(f"{'':58}{'measured':>12}{'target':>10}")

    def row(label: str, value: str, target: str) -> None:
        lines.append(f"{label:58}{value:>12}{target:>10}")

    fork = (per_chat or {}).get("fork", {})
    if "tool" in fork:
        row(
            "CPU tree per one-tool chat ÷ bare SDK one-tool chat",
            f"{fork['tool']['tree_vs_bare_tool']:.2f}×",
            "≤ 2×",
        )
    if "none" in fork:
        row(
            "CPU tree per no-tool chat ÷ bare SDK one-tool chat",
            f"{fork['none']['tree_vs_bare_tool']:.2f}×",
            "≤ 1.3×",
        )
    p50, p99 = summary["ready_ms_p50"], summary["ready_ms_p99"]
    if p50.get(ISOLATED) is not None:
        row("fork ready p50 (ms)", _ms(p50[ISOLATED]), "≤ 5")
        lines.append(
            f"  fork p99 {_ms(p99[ISOLATED])}; no isolation p50 {_ms(p50[NONE])}, p99 {_ms(p99[NONE])} (ms)"
        )
        cpu = summary["session_cpu_ms"]
        lines.append(
            f"  CPU per session (launch, list, one call, teardown; whole tree, median of batches):"
            f" fork {_ms(cpu[ISOLATED])}, no isolation {_ms(cpu[NONE])} (ms)"
        )
    if summary["throughput_ratio_pooled"] is not None:
        rounds = ", ".join(f"{value:.0%}" for value in summary["throughput_ratio_per_round"])
        c = summary["concurrency"]
        row(
            f"throughput at c={c}, fork ÷ no isolation (pooled)",
            f"{summary['throughput_ratio_pooled']:.0%}",
            "≥ 95%",
        )
        pooled = summary["throughput_pooled"]
        lines.append(
            f"  per round: {rounds}; chats/s fork {pooled[ISOLATED]:.1f}, no isolation {pooled[NONE]:.1f}"
        )
    return "\n".join(lines)
