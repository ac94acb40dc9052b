"""One chat turn: claim the conversation, admit, run the agent with the conversation's history (the
user's tool server launched at the first tool call, if any), tear down, record the run.

    open_turn(turn)                     claim the conversation (409 if another message is being answered)
    run_turn(turn, on_event)
      └─ tool_servers(..., lazy=True)   an admission slot, the user's tool server (`LazyToolServer`:
           │                            `timed_launch` at the first tool call), the operator's MCP servers
           └─ _run(agent, turn, ...)    the Agents SDK run, streamed to `on_event` when given
      └─ record the run and its history, release the claim: one transaction (every path, cancelled too)

Everything the SDKs raise becomes a `chatgate.errors` error here (the model's by `chatgate.model_errors`),
so routes only shape responses. The tool server is torn down on every path (the launcher guarantees it).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from agents import Agent, Runner, RunResultStreaming, SessionSettings
from agents.exceptions import ModelBehaviorError
from agents.mcp import MCPServer as AgentsMCPServer
from agents.result import RunResultBase
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.admission import Admission
from chatgate.agent_config import AgentTeam, default_team
from chatgate.agents import ModelProvider, build_agents, run_config
from chatgate.approvals import flow
from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.conversations.history import ConversationSession, user_message_row
from chatgate.conversations.models import INTERRUPTED
from chatgate.conversations.replacement import ThreadCut
from chatgate.conversations.shown_answer import ShownAnswer, missing_rows
from chatgate.conversations.store import ConversationStore
from chatgate.errors import (
    ChatgateError,
    DatabaseUnavailableError,
    DeadlineExceededError,
    ModelNotConfiguredError,
    ToolServerUnavailableError,
)
from chatgate.launcher import Launcher, ToolServerError
from chatgate.launcher.lazy import LazyToolServer
from chatgate.mcp_servers import OperatorMcpServers
from chatgate.model_errors import MODEL_FAILURES, model_error
from chatgate.run_report import ChatResult, Timings, ms_since
from chatgate.storage.models import utc_now
from chatgate.streaming.progress import EventSink
from chatgate.telemetry import Telemetry
from chatgate.timed_launch import LaunchEnvironment, lazy_launch, timed_launch
from chatgate.turn import Turn

logger = logging.getLogger(__name__)

TOOL_SERVER_LOST = "The tool server stopped while answering; try again shortly."


@dataclass
class ChatService:
    """The collaborators of a chat turn, built once per app."""

    settings: Settings
    launcher: Launcher
    admission: Admission
    model_provider: ModelProvider | None
    engine: AsyncEngine
    conversations: ConversationStore
    # Extra tool-server variables for one principal (API tools: that user's own credentials).
    launch_environment: LaunchEnvironment | None = None
    # The configured agents (`[agent]`, `[[agents]]`); by default the one built-in agent.
    agents: AgentTeam = field(default_factory=default_team)
    # The operator's `[[mcp_servers]]`, spawned per chat beside the tool server.
    operator_mcp: OperatorMcpServers | None = None
    # Where each tool call is reported (metrics, a span); None reports nothing.
    telemetry: Telemetry | None = None
    approvals: flow.ApprovalStore | None = None  # runs paused for the user's approval of tool calls

    async def chat(self, turn: Turn, on_event: EventSink | None = None) -> ChatResult:
        """Answer `turn`: `open_turn`, then `run_turn`."""
        await self.open_turn(turn)
        return await self.run_turn(turn, on_event)

    async def open_turn(self, turn: Turn) -> str:
        """Check the model is configured and claim the turn's conversation (a new one without an id).

        Returns:
            The conversation id (also set on `turn`), now marked as being answered by its request.

        Raises:
            ModelNotConfiguredError, NotFoundError (another owner's conversation; a replaced message
            not in it), ConversationBusyError, InvalidRequestError (an edit naming an answer).
        """
        if self.model_provider is None:
            raise ModelNotConfiguredError()
        new = turn.conversation_id is None
        conversation_id = turn.conversation_id or uuid.uuid4().hex
        owner = turn.principal.user_id
        # Regenerate, edit: the thread is cut in the claim's transaction (404: nothing changed).
        cut = ThreadCut(owner, conversation_id, turn.replaces) if turn.replaces is not None else None
        # Shielded: a cancellation that lands after the claim committed (while its connection is
        # returned, say) would leave it claimed with nobody to release it: 409 until it goes stale.
        # Finished, the claim is released by `run_turn` (or `abandon_turn`) however that ends.
        with anyio.CancelScope(shield=True):
            then, paused = cut.run if cut else None, flow.has_paused_run() if self.approvals else None
            claimed = await self.conversations.claim(
                owner, conversation_id, turn.request_id, turn.message, new=new, then=then, also=paused
            )
        turn.paused = claimed.also
        if cut is not None and cut.question is not None:
            turn.ask_instead(cut)
        turn.conversation_id = conversation_id
        turn.new_conversation = new
        return conversation_id

    async def run_turn(self, turn: Turn, on_event: EventSink | None = None) -> ChatResult:
        """Run the agent on the turn's claimed conversation; record the run and release the claim on
        every path.

        With `on_event`, the run is streamed and every SDK stream event is passed to it as it happens.
        `turn.timings` is filled in as phases complete, so a failed request still reports them. The
        turn's messages are stored under `turn.ids`. Tool approvals: `chatgate.approvals.flow`.

        Raises:
            SaturatedError, ToolServerUnavailableError, ModelError, MaxTurnsExceededError,
            DeadlineExceededError, ApprovalStateInvalidError.
        """
        owner, conversation_id = turn.principal.user_id, turn.claimed_conversation
        started_at = utc_now()
        outcome = INTERRUPTED  # unless the run ends some other way, below
        # The run's items are written with its record, in one transaction (`ConversationStore.finish`).
        session = turn.history(self.engine, self.settings.conversation_history_limit)
        shown = ShownAnswer()
        try:
            await turn.deny_waiting(self.approvals, session)
            result = await self._run_in_session(turn, session, shown.following(on_event))
            outcome = await turn.ended(self.approvals, result)
        except ChatgateError as exc:
            outcome = exc.code
            raise
        finally:
            run = turn.run_record(outcome, started_at)
            marks = turn.marks(outcome, started_at)
            with anyio.CancelScope(shield=True):
                # Cut off before the SDK stored the input (during launch, say): the message is kept
                # anyway, once; and what a stopped answer showed of a step it did not finish.
                cut_off = outcome in (INTERRUPTED, DeadlineExceededError.code)
                history = await session.take_held(user_message=turn.message if cut_off else None)
                history = missing_rows(shown, history) if outcome == INTERRUPTED else history
                kept = await turn.settled(self.approvals, outcome, history, marks)  # (history, marks)
                await _ignore_failure(
                    self.conversations.finish(owner, conversation_id, turn.request_id, run, *kept)
                )
        return turn.chat_result(result, default_agent=self.agents.main.name)

    async def _run_in_session(
        self, turn: Turn, session: ConversationSession, on_event: EventSink | None
    ) -> RunResultBase:
        assert self.model_provider is not None
        provider = self.model_provider
        deadline = self.settings.chat_timeout_seconds
        timings = turn.timings
        try:
            with anyio.fail_after(deadline):
                async with self.tool_servers(
                    turn.principal, request_id=turn.request_id, timings=timings, lazy=True
                ) as (server, extra):
                    started = time.perf_counter()
                    try:
                        agent = build_agents(self.agents, provider, server, turn.principal, extra)
                        flow.prepare(server, on_event)
                        return await self._run(agent, turn, session, on_event)
                    except Exception:
                        if isinstance(server, LazyToolServer) and server.launch_failure is not None:
                            turn.launch_failed = True
                            raise ToolServerUnavailableError() from None  # the first tool call's launch
                        raise
                    finally:
                        timings.run = ms_since(started)
        except TimeoutError:
            raise DeadlineExceededError(
                f"The agent did not finish within {deadline:g} seconds (CHAT_TIMEOUT_SECONDS)."
            ) from None
        except ToolServerError:
            # The tool server died while the agent still needed it (listing its tools, say): a 503.
            # A tool call to a dead server is not this: the model reads it as a failed tool.
            raise ToolServerUnavailableError(TOOL_SERVER_LOST) from None
        except MODEL_FAILURES as exc:
            raise model_error(exc) from None
        except RecursionError:
            # What nests without bound in a run is the model's answer (tool arguments a thousand
            # levels deep: the walks over them, ours and the SDK's, give up): its failure, a 502.
            raise model_error(ModelBehaviorError("nested too deeply")) from None
        except SQLAlchemyError as exc:
            # The SDK's session reads and writes history with no translation of its own: a 503, not a 500.
            logger.warning("conversation history unavailable: %s", type(exc).__name__)
            raise DatabaseUnavailableError() from None

    async def _run(
        self, agent: Agent[None], turn: Turn, session: ConversationSession, on_event: EventSink | None
    ) -> RunResultBase:
        config = run_config(self.settings)
        config.session_settings = SessionSettings(limit=self.settings.conversation_history_limit)
        options: dict[str, Any] = {
            "max_turns": self.settings.agent_max_turns,
            "run_config": config,
            "session": session,
            "hooks": turn.run_hooks(self.approvals, self.telemetry),
        }
        if on_event is None:
            turn.result = await Runner.run(agent, await turn.input_for(agent), **options)
            return turn.result
        streamed: RunResultStreaming = Runner.run_streamed(agent, await turn.input_for(agent), **options)
        turn.result = streamed  # usage so far is readable even if the stream is cut off
        try:
            async for event in streamed.stream_events():
                await on_event(event)
        except BaseException:
            # The SDK stops its run loop only when cancelled while waiting on its own queue; a
            # cancellation that lands in `on_event` (a slow client, a disconnect) must stop it too,
            # or the model keeps being called and history keeps being written after we leave.
            streamed.cancel()
            raise
        return streamed

    async def abandon_turn(self, turn: Turn) -> None:
        """Release a claimed conversation whose run never started (the client left first); the user's
        message is kept (under `turn.ids.user`)."""
        owner, conversation_id = turn.principal.user_id, turn.claimed_conversation
        run = turn.run_record(INTERRUPTED)
        history = [user_message_row(turn.message)] if turn.message else []  # an approval answer has none
        marks = turn.marks(INTERRUPTED, run.started_at)
        with anyio.CancelScope(shield=True):
            await _ignore_failure(
                self.conversations.finish(owner, conversation_id, turn.request_id, run, history, marks)
            )

    @asynccontextmanager
    async def tool_servers(
        self, principal: Principal, *, request_id: str, timings: Timings | None = None, lazy: bool = False
    ) -> AsyncIterator[tuple[AgentsMCPServer, list[AgentsMCPServer]]]:
        """`(tool server, operator MCP servers)` bound to `principal` for one unit of work (a chat
        turn, a catalog listing, a test's tool calls), in an admission slot; all torn down on exit.

        `timings` (when given) gets the launch and teardown milliseconds. With `lazy`, the tool server
        is a `LazyToolServer`: it lists the launcher's catalog and is launched (bound to `principal`)
        at its first tool call, if any. Operator MCP servers are always started up front: their
        catalogs are only known from a running server. With `lazy` (a chat's run) they ask for approval."""
        timings, policy = timings or Timings(), flow.approval_policy(self.agents) if lazy else None
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.admission.slot())
            server: AgentsMCPServer
            environment = self.launch_environment
            if lazy:
                tool_timeout = self.settings.mcp_tool_timeout_seconds
                server = await lazy_launch(
                    self.launcher, principal, request_id=request_id, timings=timings,
                    environment=environment, tool_timeout=tool_timeout, require_approval=policy,
                )  # fmt: skip
                stack.push_async_callback(server.cleanup)
            else:
                server = await stack.enter_async_context(
                    timed_launch(
                        self.launcher,
                        principal,
                        request_id=request_id,
                        timings=timings,
                        environment=environment,
                    )
                )
            extra: list[AgentsMCPServer] = []
            if self.operator_mcp is not None:
                started = time.perf_counter()
                extra = await stack.enter_async_context(
                    self.operator_mcp.open(principal, serves=self._some_agent_uses, require_approval=policy)
                )
                timings.launch += ms_since(started)
            yield server, extra

    def _some_agent_uses(self, tool_name: str) -> bool:
        return any(spec.allows(tool_name) for spec in self.agents.all)


async def _ignore_failure(operation: Awaitable[None]) -> None:
    # Bookkeeping after the fact must never mask the request's own outcome; it is logged instead.
    try:
        await operation
    except Exception as exc:
        logger.error("could not record the end of a run: %s", type(exc).__name__)
