"""Where a chat turn meets approvals (`chatgate.chat` calls these in order): the request's servers
prepared, waiting calls denied by a new message, the run's input, and the pause."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from agents import Agent, RunResult, RunResultStreaming, RunState
from agents.mcp import MCPServer as AgentsMCPServer
from agents.memory import Session
from agents.result import RunResultBase

from chatgate.agent_config import AgentTeam
from chatgate.approvals.answers import denial_outputs
from chatgate.approvals.policy import install_policy
from chatgate.approvals.resume import pending_calls, restore
from chatgate.approvals.store import Approval, ApprovalStore, PausedTurn
from chatgate.launcher.lazy import LazyToolServer
from chatgate.streaming.progress import ToolProgress, forward_progress

__all__ = ["ApprovalStore", "deny_waiting", "pause", "prepare", "run_input"]


def prepare(
    team: AgentTeam,
    server: AgentsMCPServer,
    extra: Sequence[AgentsMCPServer],
    on_progress: Callable[[ToolProgress], Awaitable[None]] | None,
) -> None:
    """The request's MCP servers ask for approval where the policy says so, and (streamed chats)
    pass their tools' progress to `on_progress`."""
    install_policy(team, (server, *extra))
    if on_progress is not None and isinstance(server, LazyToolServer):
        server.progress_sink = forward_progress(on_progress)


async def deny_waiting(
    store: ApprovalStore | None, resume: PausedTurn | None, session: Session, owner: str, conversation_id: str
) -> None:
    """A new message (no `resume`) while calls wait for approval: they are denied, and the model is
    told first (in history, before the new message) that they did not run."""
    if resume is None and store is not None and (superseded := await store.supersede(owner, conversation_id)):
        await session.add_items(denial_outputs(superseded))  # type: ignore[arg-type]


async def run_input(
    agent: Agent[Any], message: str | list[Any], resume: PausedTurn | None
) -> str | list[Any] | RunState[Any, Any]:
    """What the run starts from: the message (text or input items), or the paused run restored with
    the user's decisions."""
    return message if resume is None else await restore(agent, resume)


async def pause(
    store: ApprovalStore | None, result: RunResultBase, owner: str, conversation_id: str, message_id: str
) -> list[Approval]:
    """Store a run that stopped at calls needing approval (its state, one approval per call), with
    the id of the answer it continues in; the approvals, or [] when the run finished."""
    if store is None or not isinstance(result, RunResult | RunResultStreaming) or not result.interruptions:
        return []
    state = result.to_state().to_json()
    calls = pending_calls(result)
    return await store.pause(owner, conversation_id, state=state, calls=calls, message_id=message_id)
