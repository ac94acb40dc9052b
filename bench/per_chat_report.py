"""Summaries and the printed table of the per-chat comparison (`bench.per_chat`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bench.per_chat import KINDS, LABELS, MODEL_CALLS, Batch
from bench.stats import percentile

KIND_TITLES = {"tool": "chat with one tool call", "none": "chat with no tool call"}


def summarize(batches: dict[str, dict[str, list[Batch]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per variant and kind: chats, failures, wall p50/p99, CPU per chat (tree, API), spread, ratios.

    CPU per chat is total CPU over all chats (failed ones included: they cost too). Ratios are to
    the bare SDK with one tool: of the same kind, and (`tree_vs_bare_tool`) to its one-tool chat,
    the figure the targets name.
    """
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for variant, kinds in batches.items():
        summary[variant] = {}
        for kind, runs in kinds.items():
            chats = sum(batch.chats for batch in runs)
            if not chats:
                continue
            wall = [ms for batch in runs for ms in batch.wall_ms]
            requests = sum(batch.model_requests for batch in runs)
            summary[variant][kind] = {
                "chats": chats,
                "failures": sum(batch.failures for batch in runs),
                "wall_ms_p50": percentile(wall, 50),
                "wall_ms_p99": percentile(wall, 99),
                "cpu_tree_ms": sum(batch.cpu.tree for batch in runs) * 1000 / chats,
                "cpu_api_ms": sum(batch.cpu.root for batch in runs) * 1000 / chats,
                "cpu_tree_ms_per_round": [batch.cpu.tree * 1000 / batch.chats for batch in runs],
                "model_calls_per_chat": requests / chats,
                "model_request_kib": (
                    sum(batch.model_request_bytes for batch in runs) / 1024 / requests if requests else None
                ),
                "launch_ms_p50": percentile([ms for batch in runs for ms in batch.launch_ms], 50),
                "run_ms_p50": percentile([ms for batch in runs for ms in batch.run_ms], 50),
                "load_average_per_round": [batch.load_average for batch in runs],
            }
    bare = summary.get("bare", {})
    for rows in summary.values():
        for kind, row in rows.items():
            same = bare.get(kind, {}).get("cpu_tree_ms")
            tool = bare.get("tool", {}).get("cpu_tree_ms")
            row["tree_vs_bare"] = row["cpu_tree_ms"] / same if same else None
            row["api_vs_bare"] = row["cpu_api_ms"] / same if same else None
            row["tree_vs_bare_tool"] = row["cpu_tree_ms"] / tool if tool else None
    return summary


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}×"


def table(summary: dict[str, dict[str, dict[str, Any]]]) -> str:
    header = (
        f"{'':34}{'chats':>6}{'fail':>5}{'wall p50':>9}{'p99':>7}{'CPU tree':>9}{'rounds':>15}"
        f"{'CPU API':>8}{'tree/bare':>10}{'API/bare':>9}{'/bare-tool':>11}{'calls':>6}{'KiB/call':>9}"
        f"{'launch':>7}{'run':>6}"
    )
    lines = ["per chat, sequential; times in ms; CPU per chat; ratios to the bare SDK (1 tool)", header]
    for kind in KINDS:
        lines.append(f"{KIND_TITLES[kind]} ({MODEL_CALLS[kind]} model call{'s' * (MODEL_CALLS[kind] > 1)})")
        for variant, kinds in summary.items():
            row = kinds.get(kind)
            if row is None:
                continue
            per_round = row["cpu_tree_ms_per_round"]
            spread = f"{min(per_round):.1f}–{max(per_round):.1f}" if len(per_round) > 1 else "—"
            api = row["cpu_api_ms"] if not variant.startswith("bare") else None
            lines.append(
                f"  {LABELS[variant]:32}{row['chats']:>6}{row['failures']:>5}"
                f"{_num(row['wall_ms_p50']):>9}{_num(row['wall_ms_p99']):>7}{row['cpu_tree_ms']:>9.1f}"
                f"{spread:>15}{_num(api):>8}{_times(row['tree_vs_bare']):>10}"
                f"{_times(row['api_vs_bare'] if api is not None else None):>9}"
                f"{_times(row['tree_vs_bare_tool']):>11}{row['model_calls_per_chat']:>6.1f}"
                f"{_num(row['model_request_kib']):>9}{_num(row['launch_ms_p50']):>7}{_num(row['run_ms_p50']):>6}"
            )
    lines.append(
        "CPU tree: the variant's process tree (API process + fork template + tool servers, exited ones"
        " included); CPU API: the API process alone; rounds: CPU tree per chat, lowest–highest batch;"
        " calls, KiB/call: model requests per chat and their size; launch, run: the server's p50."
    )
    return "\n".join(lines)


def as_json(result: dict[str, Any]) -> dict[str, Any]:
    """The raw batches and the summary, ready for `json.dumps`."""
    batches = result["batches"]
    return {
        "summary": summarize(batches),
        "stub_round_trip_ms": result["stub_round_trip_ms"],
        "batches": {
            variant: {kind: [asdict(batch) for batch in runs] for kind, runs in kinds.items()}
            for variant, kinds in batches.items()
        },
    }
