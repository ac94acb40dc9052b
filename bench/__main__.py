"""`python -m bench`: exec vs fork vs no isolation, side by side, in one run, and chatgate's cost per
chat against the floor, the bare Agents SDK (`--per-chat` runs only that comparison)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.chat import ChatLevel, measure_chat
from bench.machine import load_average, machine
from bench.per_chat import VARIANTS as PER_CHAT_VARIANTS
from bench.per_chat import measure_per_chat
from bench.per_chat_report import as_json, summarize, table
from bench.sessions import UNSANDBOXED_FORK, SessionResult, measure_sessions
from bench.stats import percentile, ratio
from bench.targets import TargetsResult, measure_ready, measure_throughput
from bench.targets import table as targets_table

MODES = ["exec", "fork", "baseline"]
RESULTS = Path(__file__).parent / "results"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated subset of exec,fork,baseline,{UNSANDBOXED_FORK} (fork with MCP_SANDBOX=off)",
    )
    parser.add_argument(
        "--sandbox-cost",
        action="store_true",
        help=f"add {UNSANDBOXED_FORK} to the session modes and report what the sandbox adds to fork",
    )
    parser.add_argument("--sessions", type=int, default=200, help="sequential sessions (fork, baseline)")
    parser.add_argument(
        "--exec-sessions", type=int, default=20, help="sequential sessions for exec (~1 s each)"
    )
    parser.add_argument("--live", type=int, default=16, help="sessions held open for the memory figure")
    parser.add_argument("--concurrency", default="1,4,16,64", help="chat concurrency levels")
    parser.add_argument(
        "--chats", type=int, default=0, help="chats per level (default: max(40, 4×concurrency))"
    )
    parser.add_argument(
        "--exec-max-concurrency", type=int, default=16, help="skip exec chat levels above this"
    )
    parser.add_argument("--no-chat", action="store_true", help="session costs only")
    parser.add_argument(
        "--model-latency-ms", type=float, default=0.0, help="simulated model time per turn (0: CPU-bound)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: few sessions and chats")
    floor = parser.add_argument_group(
        "per-chat comparison",
        "the same scripted chats (one tool call; no tool call) on the bare Agents SDK and on chatgate, "
        "sequential, against an OpenAI-compatible model stub: wall p50/p99, CPU of the whole process "
        "tree and of the API process per chat, ratios to the bare SDK",
    )
    floor.add_argument("--per-chat", action="store_true", help="run only the per-chat comparison")
    floor.add_argument("--no-per-chat", action="store_true", help="skip the per-chat comparison")
    floor.add_argument(
        "--variants",
        default=",".join(PER_CHAT_VARIANTS),
        help="comma-separated subset of " + ",".join(PER_CHAT_VARIANTS),
    )
    floor.add_argument("--per-chat-chats", type=int, default=150, help="chats per variant and kind")
    floor.add_argument("--per-chat-exec-chats", type=int, default=20, help="the same for exec (~1 s each)")
    floor.add_argument("--rounds", type=int, default=3, help="batches per variant and kind, interleaved")
    goals = parser.add_argument_group(
        "issue 16 targets",
        "one run, ratios within it: the per-chat comparison (bare SDK and fork only, unless --variants "
        "says otherwise), then fork's session ready p50 and its chat throughput at --targets-concurrency "
        "against no isolation, in batches alternating between the two (bench.targets)",
    )
    goals.add_argument(
        "--targets", action="store_true", help="run only the targets and print them side by side"
    )
    goals.add_argument("--targets-sessions", type=int, default=200, help="sequential sessions per launcher")
    goals.add_argument("--targets-concurrency", type=int, default=16, help="chat concurrency for throughput")
    goals.add_argument("--targets-chats", type=int, default=64, help="chats per throughput batch")
    goals.add_argument("--targets-rounds", type=int, default=4, help="alternating batches per launcher")
    args = parser.parse_args(argv)
    if args.targets and args.variants == ",".join(PER_CHAT_VARIANTS):
        args.variants = "bare,fork"
    return args


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _session_table(results: dict[str, SessionResult]) -> str:
    base = results.get("baseline")
    rows: list[tuple[str, Callable[[SessionResult], float | None]]] = [
        ("session ready p50 (ms)", lambda r: percentile(r.ready_ms, 50)),
        ("session ready p99 (ms)", lambda r: percentile(r.ready_ms, 99)),
        ("first tool call p50 (ms)", lambda r: percentile(r.first_call_ms, 50)),
        ("teardown on request path p50 (ms)", lambda r: percentile(r.teardown_ms, 50)),
        ("teardown on request path p99 (ms)", lambda r: percentile(r.teardown_ms, 99)),
        ("CPU per session, whole tree (ms)", lambda r: r.cpu_ms_per_session),
        ("unshared memory per live session, USS (MiB)", lambda r: r.uss_mib_per_live_session),
        ("PSS per live session (MiB)", lambda r: r.pss_mib_per_live_session),
        ("template PSS, shared by all (MiB)", lambda r: r.template_pss_mib),
    ]
    modes = list(results)
    header = (
        f"{'':46}"
        + "".join(f"{m:>12}" for m in modes)
        + "".join(f"{m + '/base':>14}" for m in modes if m != "baseline" and base)
    )
    lines = [header, "-" * len(header)]
    for label, get in rows:
        values = {m: get(results[m]) for m in modes}
        line = f"{label:46}" + "".join(f"{_fmt(values[m], 2):>12}" for m in modes)
        if base:
            line += "".join(f"{ratio(values[m], values['baseline']):>14}" for m in modes if m != "baseline")
        lines.append(line)
    lines.append(
        "CPU above baseline per session (ms): "
        + ", ".join(
            f"{m} {results[m].cpu_ms_per_session - base.cpu_ms_per_session:.1f}"
            for m in modes
            if base and m != "baseline"
        )
    )
    return "\n".join(lines)


def _sandbox_cost(contained: SessionResult, free: SessionResult) -> dict[str, float]:
    """What containment adds per fork session (the load average says how noisy the machine was)."""
    return {
        "ready_p50_ms_added": round(
            (percentile(contained.ready_ms, 50) or 0.0) - (percentile(free.ready_ms, 50) or 0.0), 3
        ),
        "ready_p50_ms_contained": round(percentile(contained.ready_ms, 50) or 0.0, 3),
        "ready_p50_ms_uncontained": round(percentile(free.ready_ms, 50) or 0.0, 3),
        "cpu_ms_added_per_session": round(contained.cpu_ms_per_session - free.cpu_ms_per_session, 3),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def _chat_table(levels: dict[str, list[ChatLevel]]) -> str:
    header = (
        f"{'mode':>9} {'conc':>5} {'chats':>6} {'fail':>5} {'chats/s':>8} {'vs base':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'launch p50':>11} {'teardown p50':>13} {'CPU ms/chat':>12}"
    )
    lines = [header, "-" * len(header)]
    base = {level.concurrency: level for level in levels.get("baseline", [])}
    for mode, mode_levels in levels.items():
        for level in mode_levels:
            reference = base.get(level.concurrency)
            relative = (
                f"{level.throughput / reference.throughput:.0%}"
                if reference and reference.throughput
                else "—"
            )
            lines.append(
                f"{mode:>9} {level.concurrency:>5} {level.chats:>6} {level.failures:>5} "
                f"{level.throughput:>8.1f} "
                f"{relative:>8} {_fmt(percentile(level.latency_ms, 50)):>8} "
                f"{_fmt(percentile(level.latency_ms, 99)):>8} "
                f"{_fmt(percentile(level.server_launch_ms, 50)):>11} "
                f"{_fmt(percentile(level.server_teardown_ms, 50)):>13} {level.cpu_ms_per_chat:>12.1f}"
            )
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        args.sessions, args.exec_sessions, args.live = 20, 3, 4
        args.per_chat_chats, args.per_chat_exec_chats, args.rounds = 12, 2, 2
        args.targets_sessions, args.targets_chats, args.targets_rounds = 20, 16, 2
    report: dict[str, Any] = {"machine": machine(), "arguments": vars(args)}
    with tempfile.TemporaryDirectory(prefix="chatgate-bench-") as tmp:
        if args.targets:
            return await _targets(args, Path(tmp), report)
        if not args.per_chat:
            report.update(await _isolation(args, Path(tmp)))
        if not args.no_per_chat:
            report["per_chat"] = await _per_chat(args, Path(tmp) / "per-chat")
    return report


async def _isolation(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Session costs and chat throughput: exec vs fork vs no isolation."""
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if args.sandbox_cost and UNSANDBOXED_FORK not in modes:
        modes.append(UNSANDBOXED_FORK)
    if args.sandbox_cost and "fork" not in modes:
        modes.append("fork")
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if args.quick:
        concurrencies = [c for c in concurrencies if c <= 4] or [1]
    report: dict[str, Any] = {"sessions": {}, "chat": {}}
    sessions: dict[str, SessionResult] = {}
    for mode in modes:
        count = args.exec_sessions if mode == "exec" else args.sessions
        print(f"[sessions] {mode}: {count} sequential, {args.live} live …", flush=True)
        sessions[mode] = await measure_sessions(mode, tmp / f"s-{mode}", sessions=count, live=args.live)
    print("\n" + _session_table(sessions) + "\n", flush=True)
    report["sessions"] = {mode: result.as_json() for mode, result in sessions.items()}
    if "fork" in sessions and UNSANDBOXED_FORK in sessions:
        report["sandbox_cost"] = _sandbox_cost(sessions["fork"], sessions[UNSANDBOXED_FORK])
        print(f"sandbox cost on fork: {report['sandbox_cost']}\n", flush=True)
    if not args.no_chat:
        levels: dict[str, list[ChatLevel]] = {}
        for mode in (mode for mode in modes if mode in MODES):
            wanted = [c for c in concurrencies if mode != "exec" or c <= args.exec_max_concurrency]
            chats_for = {c: args.chats or (max(8, 2 * c) if args.quick else max(40, 4 * c)) for c in wanted}
            if mode == "exec" and not args.chats:
                chats_for = {c: max(4, 2 * c) if args.quick else max(10, 2 * c) for c in wanted}
            print(f"[chat] {mode}: concurrency {wanted} …", flush=True)
            levels[mode] = await measure_chat(
                mode,
                tmp / f"c-{mode}",
                concurrencies=wanted,
                chats_for=chats_for,
                model_latency_ms=args.model_latency_ms,
            )
        print("\n" + _chat_table(levels) + "\n", flush=True)
        report["chat"] = {mode: [level.summary() for level in ls] for mode, ls in levels.items()}
    return report


async def _per_chat(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Cost per chat against the bare Agents SDK (`bench.per_chat`)."""
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(PER_CHAT_VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s): {', '.join(unknown)}")
    result = await measure_per_chat(
        variants,
        tmp,
        chats=args.per_chat_chats,
        exec_chats=args.per_chat_exec_chats,
        rounds=max(1, args.rounds),
    )
    trips = result["stub_round_trip_ms"]
    print("\n" + table(summarize(result["batches"])), flush=True)
    # Nagle's algorithm would show as ~40 ms on every trip, the minimum included.
    print(
        f"model stub keep-alive round trip: min {min(trips):.2f} ms, p50 {percentile(trips, 50):.2f} ms;"
        f" load average now: {load_average()}\n"
    )
    return as_json(result)


async def _targets(args: argparse.Namespace, tmp: Path, report: dict[str, Any]) -> dict[str, Any]:
    """Issue 16's targets in one run: per-chat CPU ratios, fork ready p50, throughput ratio at c=16."""
    per_chat = await _per_chat(args, tmp / "per-chat")
    report["per_chat"] = per_chat
    result = TargetsResult(concurrency=args.targets_concurrency)
    rounds = max(1, args.targets_rounds)
    print(f"[targets] ready: {args.targets_sessions} sessions per launcher in {rounds} rounds …", flush=True)
    await measure_ready(result, tmp / "targets", sessions=args.targets_sessions, rounds=rounds)
    await measure_throughput(
        result,
        tmp / "targets",
        chats=args.targets_chats,
        rounds=rounds,
        model_latency_ms=args.model_latency_ms,
    )
    report["targets"] = result.as_json()
    print("\n" + targets_table(report["targets"]["summary"], per_chat["summary"]), flush=True)
    print(f"load average now: {load_average()}\n", flush=True)
    return report


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    started = time.perf_counter()
    contain_cost = None
    if args.sandbox_cost:  # before any event loop or thread exists: it forks
        from bench.sandbox_cost import measure_contain

        contain_cost = measure_contain(20 if args.quick else 200)
        print(f"[sandbox] contain() in forked children: {contain_cost}", flush=True)
    report = asyncio.run(_run(args))
    if contain_cost is not None:
        report["sandbox_contain"] = contain_cost
    report["duration_seconds"] = round(time.perf_counter() - started, 1)
    report["machine"]["load_avg_at_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    prefix = "targets" if args.targets else "per-chat" if args.per_chat else "bench"
    path = RESULTS / f"{prefix}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
