"""`assert_isolated`: what one user writes, no read of another user ever returns.

1. The writer calls every write tool (not `readOnlyHint`) with arguments generated from its input
   schema, each string field carrying its own fresh marker; plus the operator's explicit writes.
2. Read plans are derived from that: every read tool (`readOnlyHint`) is called with its required
   arguments, and again with each value the writer used or got back under the same parameter name
   (a `collection`, a `path`, the `id` a create returned); required free-text parameters without such
   a value (a search `query`) try every marker. Plus the operator's explicit reads.
   The ids the writes returned count as markers too.
3. The writer runs the read plans (the control: it must see some of its markers, or the test could
   not catch anything); then the reader runs the same plans. Any marker in the reader's results,
   other than an argument echoed back, is a leak.

Tool calls go through real tool servers bound to each user (`ChatgateApp.call_tools`), no model.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chatgate.testing.app import ChatgateApp
from chatgate.testing.isolation_plans import (
    Call,
    Evidence,
    expand_markers,
    fill_markers,
    found_markers,
    planned_reads,
    planned_writes,
    returned_ids,
    written_values,
)

_RUN_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class Leak:
    """A reader's call that returned a marker the writer wrote."""

    tool: str
    arguments: dict[str, Any]
    marker: str
    written_by: str
    excerpt: str

    def describe(self) -> str:
        return (
            f"{self.tool}({json.dumps(self.arguments)}) returned marker {self.marker} "
            f"written by {self.written_by}: …{self.excerpt}…"
        )


@dataclass
class IsolationReport:
    """What `assert_isolated` did and found."""

    writer: str
    reader: str
    writes: list[tuple[Call, bool]] = field(default_factory=list)  # (call, succeeded)
    reads: list[Call] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)  # marker or returned id -> write tool
    seen_by_writer: set[str] = field(default_factory=set)
    leaks: list[Leak] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (tool, why)

    @property
    def markers(self) -> dict[str, str]:
        return self.evidence.sources

    @property
    def unobserved_writes(self) -> list[str]:
        """Write tools none of whose markers the writer's own reads returned: blind spots to cover
        with explicit reads."""
        ok_tools = {call[0] for call, ok in self.writes if ok}
        observed = {self.markers[marker] for marker in self.seen_by_writer}
        return sorted(ok_tools - observed)


def assert_isolated(
    app: ChatgateApp,
    *,
    writer: str | None = None,
    reader: str | None = None,
    tools: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    writes: Sequence[Call] = (),
    reads: Sequence[Call] = (),
    generate: bool = True,
    require_control: bool = True,
) -> IsolationReport:
    """Check that nothing `writer` writes is ever returned to `reader`.

    Args:
        app: the running service (`chatgate_app`).
        writer, reader: user ids (fresh random ones by default). Give your own when a tool needs
            something stored first, such as a connected credential.
        tools, exclude: globs over tool names: which tools take part.
        writes: explicit write calls; each string containing `{marker}` gets a fresh marker there.
        reads: explicit read calls; a string containing `{marker}` is tried with every marker written.
        generate: also generate calls from the tool catalog (False: only the explicit ones).
        require_control: fail unless the writer's own reads return at least one marker (without that,
            the check could not catch a leak).

    Returns:
        The report (calls made, markers, blind spots in `unobserved_writes`).

    Raises:
        AssertionError: a leak (every leaking call listed), nothing could be written, or the control
            failed.
    """
    run = uuid.uuid4().hex[:8]
    report = IsolationReport(
        writer=writer or f"isolation-writer-{run}", reader=reader or f"isolation-reader-{run}"
    )

    def selected(name: str) -> bool:
        chosen = any(fnmatch.fnmatchcase(name, pattern) for pattern in tools)
        return chosen and not any(fnmatch.fnmatchcase(name, pattern) for pattern in exclude)

    # Two sessions, as two chats would have: the writer's (writes, then the control reads), the reader's.
    app.run(_write_and_control(app, report, selected, writes, reads, generate), timeout=_RUN_TIMEOUT_SECONDS)
    if require_control and not report.seen_by_writer:
        raise AssertionError(
            "assert_isolated: the writer's own reads returned none of its markers, so a leak could not be "
            "seen either; add explicit reads (reads=[…]) that return what the writes wrote"
        )
    app.run(_read_as_reader(app, report), timeout=_RUN_TIMEOUT_SECONDS)
    if report.leaks:
        listed = "\n".join(f"  - {leak.describe()}" for leak in report.leaks[:20])
        calls = len({json.dumps([leak.tool, leak.arguments], sort_keys=True) for leak in report.leaks})
        raise AssertionError(
            f"assert_isolated: {calls} read(s) of {report.reader!r} returned what {report.writer!r} wrote "
            f"({len(report.leaks)} finding(s)):\n{listed}"
        )
    return report


async def _write_and_control(
    app: ChatgateApp,
    report: IsolationReport,
    selected: Callable[[str], bool],
    writes: Sequence[Call],
    reads: Sequence[Call],
    generate: bool,
) -> None:
    evidence = report.evidence
    async with app.tool_session(report.writer) as session:
        catalog = [tool for tool in await session.catalog() if selected(tool["name"])]
        names = sorted(tool["name"] for tool in catalog)
        write_calls = planned_writes(catalog, evidence) if generate else []
        write_calls += [fill_markers(call, evidence) for call in writes]
        if not write_calls:
            raise AssertionError(f"assert_isolated: no write tools among {names}")
        results = [
            await session.call(name, arguments, tolerate_failures=True) for name, arguments in write_calls
        ]
        report.writes = [(call, result.ok) for call, result in zip(write_calls, results, strict=True)]
        if not any(result.ok for result in results):
            failures = "; ".join(f"{result.name}: {result.text[:120]}" for result in results)
            raise AssertionError(f"assert_isolated: every write failed, nothing to check ({failures})")
        # Ids the writes returned are evidence too: a search whose only text was its own query still
        # gives itself away by the id of what it found.
        for (name, _), result in zip(write_calls, results, strict=True):
            if result.ok:
                evidence.sources.update({value: name for value in returned_ids(result)})
        written = written_values(write_calls, results)
        read_calls = planned_reads(catalog, written, evidence, report.skipped) if generate else []
        read_calls += [expanded for call in reads for expanded in expand_markers(call, evidence)]
        if not read_calls:
            raise AssertionError(f"assert_isolated: no read tools among {names}")
        report.reads = read_calls
        for call in read_calls:
            result = await session.call(*call, tolerate_failures=True)
            report.seen_by_writer.update(marker for marker, _ in found_markers(call, result, evidence))


async def _read_as_reader(app: ChatgateApp, report: IsolationReport) -> None:
    async with app.tool_session(report.reader) as session:
        available = {tool["name"] for tool in await session.catalog()}
        for call in report.reads:
            if call[0] not in available:
                report.skipped.append((call[0], "the reader has no such tool"))
                continue
            result = await session.call(*call, tolerate_failures=True)
            for marker, excerpt in found_markers(call, result, report.evidence):
                report.leaks.append(Leak(call[0], call[1], marker, report.markers[marker], excerpt))
