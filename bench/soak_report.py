"""The soak's plan and verdicts: what each kind of chat is for, what answer was designed for it, and the
report (`bench.soak` drives; this module judges and prints)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from bench.stats import percentile

# What each kind of chat is for, and its share of the requests.
WEIGHTS = {
    "plain": 0.38,
    "tool": 0.30,
    "kill_tool": 0.05,
    "model_5xx": 0.05,
    "model_timeout": 0.02,
    "disconnect": 0.17,
    "unknown_kid": 0.03,
}
# Outcomes that are the designed answer to each kind: (status, code) or "client_closed".
DESIGNED: dict[str, set[tuple[int, str]]] = {
    "plain": {(200, "ok")},
    "tool": {(200, "ok")},
    "kill_tool": {(200, "ok"), (503, "tool_server_unavailable")},
    "model_5xx": {(502, "model_error")},
    "model_timeout": {(504, "deadline_exceeded")},
    "disconnect": {(0, "client_closed"), (200, "ok")},
    "unknown_kid": {(401, "invalid_token"), (503, "auth_unavailable")},
}
# Anywhere: the service saying it is full is designed behaviour under load.
DESIGNED_ANYWHERE = {(503, "saturated"), (429, "rate_limited")}


@dataclass
class Outcome:
    kind: str
    mode: str
    status: int
    code: str
    seconds: float


@dataclass
class Footprint:
    fds: int
    rss_mib: float


@dataclass
class Report:
    concurrency: int
    requests: int
    launcher: str
    seconds: float = 0.0
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    undesigned: dict[str, int] = field(default_factory=dict)
    unfaulted_p50_ms: float | None = None
    unfaulted_p99_ms: float | None = None
    tool_servers_killed: int = 0
    tool_servers_left: int = 0
    leftovers: list[str] = field(default_factory=list)
    orphans_after_exit: int = 0
    before: Footprint | None = None
    after: Footprint | None = None
    server_exit_code: int | None = None


def stream_code(lines: list[str]) -> str:
    """A stream's outcome: `ok`, or the code its error chunk's text stands for."""
    for line in lines:
        if line.startswith("data: {") and '"type":"error"' in line:
            text = json.loads(line[6:]).get("errorText", "")
            for code, words in (
                ("model_error", "model endpoint"),
                ("deadline_exceeded", "did not finish within"),
                ("tool_server_unavailable", "tool server"),
            ):
                if words in text:
                    return code
            return "stream_error"
    return "ok" if lines and lines[-1] == "data: [DONE]" else "truncated"


def status_of(outcome: Outcome) -> tuple[int, str]:
    # A stream that failed midway still answered 200: judge it by the error it carried.
    if outcome.mode == "stream" and outcome.status == 200 and outcome.code != "ok":
        status = {"model_error": 502, "deadline_exceeded": 504, "tool_server_unavailable": 503}.get(
            outcome.code, 200
        )
        return status, outcome.code
    return outcome.status, outcome.code


def summarise(report: Report, outcomes: list[Outcome]) -> None:
    by_kind: dict[str, Counter[str]] = {}
    undesigned: Counter[str] = Counter()
    for outcome in outcomes:
        status, code = status_of(outcome)
        by_kind.setdefault(outcome.kind, Counter())[f"{status} {code}"] += 1
        if (status, code) not in DESIGNED[outcome.kind] | DESIGNED_ANYWHERE:
            undesigned[f"{outcome.kind}: {status} {code}"] += 1
    report.outcomes = {kind: dict(counts) for kind, counts in sorted(by_kind.items())}
    report.undesigned = dict(undesigned)
    clean = [
        o.seconds * 1000 for o in outcomes if o.kind in ("plain", "tool") and status_of(o) == (200, "ok")
    ]
    report.unfaulted_p50_ms = _round(percentile(clean, 50))
    report.unfaulted_p99_ms = _round(percentile(clean, 99))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _growth(before: float, after: float) -> str:
    return f"{(after - before) / before * 100:+.1f}%" if before else "n/a"


def print_report(report: Report) -> None:
    print(f"\nsoak: {report.requests} chats, {report.concurrency} concurrent, {report.launcher} launcher")
    print(f"  {report.seconds} s")
    for kind, counts in report.outcomes.items():
        print(f"  {kind:<14} " + ", ".join(f"{key}: {value}" for key, value in sorted(counts.items())))
    print(f"  not designed: {sum(report.undesigned.values())} {report.undesigned or ''}")
    print(f"  unfaulted chats p50 / p99: {report.unfaulted_p50_ms} / {report.unfaulted_p99_ms} ms")
    print(f"  tool servers killed mid-call: {report.tool_servers_killed}")
    print(f"  tool servers left after the run: {report.tool_servers_left} {report.leftovers or ''}")
    print(f"  processes left after the server exited: {report.orphans_after_exit}")
    if report.before and report.after:
        before, after = report.before, report.after
        print(f"  fds {before.fds} -> {after.fds} ({_growth(before.fds, after.fds)}), after warm-up")
        print(
            f"  RSS {before.rss_mib} -> {after.rss_mib} MiB ({_growth(before.rss_mib, after.rss_mib)}) "
            "(API process + fork template)"
        )
    print(f"  server exit code after SIGTERM: {report.server_exit_code}")
