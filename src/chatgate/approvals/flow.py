"""Where a chat turn meets approvals (`chatgate.chat` calls these in order): the request's servers
prepared, waiting calls denied by a new message, the run's input and hooks, and how it ended (paused,
resumed, or failed with the paused run kept for a retry)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agents import Agent, RunResult, RunResultStreaming, RunState
from agents.mcp import MCPServer as AgentsMCPServer
from agents.memory import Session
from agents.result import RunResultBase

from chatgate.approvals.answers import denial_outputs
from chatgate.approvals.execution import ApprovedCalls
from chatgate.approvals.policy import approval_policy
from chatgate.approvals.records import Approval, PausedTurn
from chatgate.approvals.resume import pending_calls, restore
from chatgate.approvals.store import ApprovalStore, has_paused_run
from chatgate.launcher.lazy import LazyToolServer
from chatgate.run_report import Timings, ToolClock
from chatgate.streaming.progress import ToolProgress, forward_progress
from chatgate.telemetry import Telemetry

__all__ = [
    "ApprovalStore",
    "approval_policy",
    "deny_waiting",
    "failed",
    "has_paused_run",
    "hooks",
    "pause",
    "prepare",
    "run_input",
]


def prepare(server: AgentsMCPServer, on_progress: Callable[[ToolProgress], Awaitable[None]] | None) -> None:
    """A streamed chat's tool server passes its tools' progress to `on_progress`. (Which calls need
    approval is the servers' `require_approval`, set when they are built: `approvals.policy`.)"""
    if on_progress is not None and isinstance(server, LazyToolServer):
        server.progress_sink = forward_progress(on_progress)


async def deny_waiting(
    store: ApprovalStore | None,
    resume: PausedTurn | None,
    paused: bool,
    session: Session,
    owner: str,
    conversation_id: str,
) -> None:
    """A new message (no `resume`) to a conversation with a paused run (`paused`, learnt with the
    claim): its waiting calls are denied, and the model is told first (in history, before the new
    message) what became of each call."""
    if resume is not None or not paused or store is None:
        return
    if superseded := await store.supersede(owner, conversation_id):
        await session.add_items(denial_outputs(superseded))  # type: ignore[arg-type]


def hooks(
    timings: Timings,
    telemetry: Telemetry | None,
    store: ApprovalStore | None,
    resume: PausedTurn | None,
    owner: str,
    conversation_id: str,
) -> ToolClock:
    """The run's hooks: a `ToolClock`; resuming, one that also records each approved call as sent
    before it is (`ApprovedCalls`, at most once)."""
    if store is None or resume is None:
        return ToolClock(timings, telemetry)
    return ApprovedCalls(
        timings, telemetry, store=store, owner=owner, conversation_id=conversation_id, paused=resume
    )


async def run_input(
    agent: Agent[Any], message: str | list[Any], resume: PausedTurn | None
) -> str | list[Any] | RunState[Any, Any]:
    """What the run starts from: the message (text or input items), or the paused run restored with
    the user's decisions."""
    return message if resume is None else await restore(agent, resume)


async def pause(
    store: ApprovalStore | None,
    result: RunResultBase,
    resume: PausedTurn | None,
    owner: str,
    conversation_id: str,
    message_id: str,
) -> list[Approval]:
    """Store a run that stopped at calls needing approval (its state, one approval per call), with
    the id of the answer it continues in; the approvals, or [] when the run finished. Either way the
    paused run it resumed (`resume`) is done with."""
    if store is None:
        return []
    if not isinstance(result, RunResult | RunResultStreaming) or not result.interruptions:
        if resume is not None:
            await store.resumed(owner, conversation_id)
        return []
    state = result.to_state().to_json()
    calls = pending_calls(result)
    return await store.pause(owner, conversation_id, state=state, calls=calls, message_id=message_id)


async def failed(
    store: ApprovalStore | None,
    run_hooks: ToolClock | None,
    launch_failed: bool,
    owner: str,
    conversation_id: str,
) -> None:
    """A resumed run failed: its paused run stays for a retry. When its tool server failed to launch
    (`launch_failed`), the calls marked as sent never reached one: a retry may run them."""
    if store is not None and launch_failed and isinstance(run_hooks, ApprovedCalls):
        await store.not_sent(owner, conversation_id, run_hooks.sent)
