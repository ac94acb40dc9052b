"""One chat turn: claim the conversation, admit, launch the user's tool server, run the agent with the
conversation's history, tear down, record the run.

Everything the SDKs can raise is translated here into `chatgate.errors`, so routes only shape
responses. The tool server is torn down on every path (the launcher guarantees it), and the run is
recorded on every path too, cancellation included.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import openai
from agents import Agent, Runner, RunResultStreaming, SessionSettings
from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError, ModelTimeoutError
from agents.mcp import MCPServer as AgentsMCPServer
from agents.result import RunResultBase
from agents.stream_events import StreamEvent
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.admission import Admission
from chatgate.agent_config import AgentTeam, default_team
from chatgate.agents import ModelProvider, build_agents, run_config
from chatgate.config import Settings
from chatgate.conversations.history import ConversationSession
from chatgate.conversations.message_index import MessageIndex, TurnIds
from chatgate.conversations.models import ConversationRun
from chatgate.conversations.store import ConversationStore
from chatgate.empty_answers import EmptyAnswerError
from chatgate.errors import (
    ChatgateError,
    DeadlineExceededError,
    ModelError,
    ModelNotConfiguredError,
    ToolServerUnavailableError,
)
from chatgate.launcher import Launcher, ToolServerError
from chatgate.launcher.environment import launch_additions
from chatgate.mcp_servers import OperatorMcpServers
from chatgate.principal import Principal
from chatgate.run_report import (
    ChatResult,
    Timings,
    ToolClock,
    failed_calls,
    final_text,
    ms_since,
    tools_used,
    usage_of,
)
from chatgate.storage.models import utc_now
from chatgate.telemetry import Telemetry

logger = logging.getLogger(__name__)

# Receives each SDK stream event of a streamed run, in order.
EventSink = Callable[[StreamEvent], Awaitable[None]]
TOOL_SERVER_LOST = "The tool server stopped while answering; try again shortly."
COMPLETED = "completed"
INTERRUPTED = "interrupted"


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
    launch_environment: Callable[[Principal], Awaitable[Mapping[str, str]]] | None = None
    # The configured agents (`[agent]`, `[[agents]]`); by default the one built-in agent.
    agents: AgentTeam = field(default_factory=default_team)
    # The operator's `[[mcp_servers]]`, spawned per chat beside the tool server.
    operator_mcp: OperatorMcpServers | None = None
    # Where each tool call is reported (metrics, a span); None reports nothing.
    telemetry: Telemetry | None = None

    async def chat(
        self,
        principal: Principal,
        message: str,
        *,
        request_id: str,
        timings: Timings,
        conversation_id: str | None = None,
        on_event: EventSink | None = None,
        ids: TurnIds | None = None,
    ) -> ChatResult:
        """Answer `message` for `principal`: `open_turn`, then `run_turn`."""
        conversation_id = await self.open_turn(
            principal, message, request_id=request_id, conversation_id=conversation_id
        )
        return await self.run_turn(
            principal,
            message,
            request_id=request_id,
            timings=timings,
            conversation_id=conversation_id,
            on_event=on_event,
            ids=ids,
        )

    async def open_turn(
        self, principal: Principal, message: str, *, request_id: str, conversation_id: str | None
    ) -> str:
        """Check the model is configured and claim the conversation (a new one without an id).

        Returns:
            The conversation id, now marked as being answered by `request_id`.

        Raises:
            ModelNotConfiguredError, NotFoundError (another owner's conversation), ConversationBusyError.
        """
        if self.model_provider is None:
            raise ModelNotConfiguredError()
        conversation_id = conversation_id or uuid.uuid4().hex
        # Shielded: a cancellation that lands after the claim committed (while its connection is
        # returned, say) would leave it claimed with nobody to release it: 409 until it goes stale.
        # Finished, the claim is released by `run_turn` (or `abandon_turn`) however that ends.
        with anyio.CancelScope(shield=True):
            await self.conversations.claim(principal.user_id, conversation_id, request_id, message)
        return conversation_id

    async def run_turn(
        self,
        principal: Principal,
        message: str,
        *,
        request_id: str,
        timings: Timings,
        conversation_id: str,
        on_event: EventSink | None = None,
        ids: TurnIds | None = None,
    ) -> ChatResult:
        """Run the agent on a claimed conversation; record the run and release the claim on every path.

        With `on_event`, the run is streamed and every SDK stream event is passed to it as it happens.
        `timings` is filled in as phases complete, so a failed request still reports them. The turn's
        messages are stored under `ids` (fresh ones by default): the user's and the answer's.

        Raises:
            SaturatedError, ToolServerUnavailableError, ModelError, DeadlineExceededError.
        """
        owner = principal.user_id
        started_at = utc_now()
        progress: list[RunResultBase] = []
        outcome = INTERRUPTED  # unless the run ends some other way, below
        session = ConversationSession(
            conversation_id, self.engine, history_limit=self.settings.conversation_history_limit, owner=owner
        )
        stored_before: int | None = None
        ids = ids or TurnIds()
        index = MessageIndex(self.engine)
        mark: int | None = None
        try:
            stored_before = await session.stored_count()
            mark = await index.mark(owner, conversation_id)
            result = await self._run_in_session(
                principal, message, session, request_id, timings, on_event, progress
            )
            outcome = COMPLETED
        except ChatgateError as exc:
            outcome = exc.code
            raise
        finally:
            usage = usage_of(progress[-1] if progress else None)
            run = ConversationRun(
                conversation_id=conversation_id,
                owner=owner,
                request_id=request_id,
                started_at=started_at,
                finished_at=utc_now(),
                outcome=outcome,
                launch_ms=timings.launch,
                model_ms=timings.model,
                tools_ms=timings.tools,
                teardown_ms=timings.teardown,
                requests=usage["requests"],
                input_tokens=usage["input_tokens"],
                output_tokens=usage["output_tokens"],
                total_tokens=usage["total_tokens"],
            )
            with anyio.CancelScope(shield=True):
                # A cut-off run's history writes may still be finishing: see them before checking.
                await session.settled()
                if outcome == INTERRUPTED and stored_before is not None:
                    # Cut off before the SDK stored the input (during launch, say): keep the message.
                    await _ignore_failure(session.ensure_user_message(message, since=stored_before))
                if mark is not None:
                    await _ignore_failure(
                        index.record(
                            owner,
                            conversation_id,
                            ids,
                            since=mark,
                            started_at=started_at,
                            interrupted=outcome == INTERRUPTED,
                            failed_calls=failed_calls(progress[-1] if progress else None),
                        )
                    )
                await _ignore_failure(self.conversations.finish(owner, conversation_id, request_id, run))
        return ChatResult(
            conversation_id=conversation_id,
            response=final_text(result),
            agent_used=result.last_agent.name if result.last_agent else self.agents.main.name,
            tools_used=tools_used(result),
            usage=usage_of(result),
            timings=timings,
            message_id=ids.assistant,
        )

    async def _run_in_session(
        self,
        principal: Principal,
        message: str,
        session: ConversationSession,
        request_id: str,
        timings: Timings,
        on_event: EventSink | None,
        progress: list[RunResultBase],
    ) -> RunResultBase:
        assert self.model_provider is not None
        provider = self.model_provider
        deadline = self.settings.chat_timeout_seconds
        try:
            with anyio.fail_after(deadline):
                async with self.tool_servers(principal, request_id=request_id, timings=timings) as (
                    server,
                    extra,
                ):
                    started = time.perf_counter()
                    try:
                        agent = build_agents(self.agents, provider, server, principal, extra)
                        return await self._run(agent, message, session, timings, on_event, progress)
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
        except (openai.APIError, ModelBehaviorError, ModelTimeoutError, MaxTurnsExceeded) as exc:
            raise _model_error(exc) from None

    async def _run(
        self,
        agent: Agent[None],
        message: str,
        session: ConversationSession,
        timings: Timings,
        on_event: EventSink | None,
        progress: list[RunResultBase],
    ) -> RunResultBase:
        config = run_config(self.settings)
        config.session_settings = SessionSettings(limit=self.settings.conversation_history_limit)
        options: dict[str, Any] = {
            "max_turns": self.settings.agent_max_turns,
            "run_config": config,
            "session": session,
            "hooks": ToolClock(timings, self.telemetry),
        }
        if on_event is None:
            result = await Runner.run(agent, message, **options)
            progress.append(result)
            return result
        streamed: RunResultStreaming = Runner.run_streamed(agent, message, **options)
        progress.append(streamed)  # usage so far is readable even if the stream is cut off
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

    async def abandon_turn(
        self,
        principal: Principal,
        message: str,
        *,
        request_id: str,
        conversation_id: str,
        ids: TurnIds | None = None,
    ) -> None:
        """Release a claimed conversation whose run never started (the client left first); the user's
        message is kept (under `ids.user`)."""
        session = ConversationSession(
            conversation_id, self.engine, history_limit=None, owner=principal.user_id
        )
        run = ConversationRun(
            conversation_id=conversation_id,
            owner=principal.user_id,
            request_id=request_id,
            outcome=INTERRUPTED,
        )
        with anyio.CancelScope(shield=True):
            await _ignore_failure(
                MessageIndex(self.engine).keep_user_message(
                    session, principal.user_id, message, ids or TurnIds(), at=run.started_at
                )
            )
            await _ignore_failure(
                self.conversations.finish(principal.user_id, conversation_id, request_id, run)
            )

    def _session(self, principal: Principal, request_id: str, timings: Timings) -> _TimedSession:
        return _TimedSession(self.launcher, principal, request_id, timings, self.launch_environment)

    @asynccontextmanager
    async def tool_servers(
        self, principal: Principal, *, request_id: str, timings: Timings | None = None
    ) -> AsyncIterator[tuple[AgentsMCPServer, list[AgentsMCPServer]]]:
        """`(tool server, operator MCP servers)` bound to `principal` for one unit of work (a chat
        turn, a catalog listing, a test's tool calls), in an admission slot; all torn down on exit."""
        timings = timings or Timings()
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.admission.slot())
            server = await stack.enter_async_context(self._session(principal, request_id, timings))
            extra: list[AgentsMCPServer] = []
            if self.operator_mcp is not None:
                started = time.perf_counter()
                extra = await stack.enter_async_context(
                    self.operator_mcp.open(principal, serves=self._some_agent_uses)
                )
                timings.launch += ms_since(started)
            yield server, extra

    def _some_agent_uses(self, tool_name: str) -> bool:
        return any(spec.allows(tool_name) for spec in self.agents.all)

    async def list_tools(self, principal: Principal, *, request_id: str) -> list[dict[str, Any]]:
        """The tool catalog `principal`'s agent would see, read from real tool servers."""
        async with self.tool_servers(principal, request_id=request_id) as (server, extra):
            try:
                tools = [tool for each in (server, *extra) for tool in await each.list_tools()]
            except ToolServerError:
                raise ToolServerUnavailableError(TOOL_SERVER_LOST) from None
        return [
            {
                "name": tool.name,
                "description": tool.description or "",
                "input_schema": tool.input_schema,
                "annotations": tool.annotations.model_dump(exclude_none=True, by_alias=True)
                if tool.annotations
                else {},
            }
            for tool in tools
        ]


class _TimedSession:
    """`launcher.launch(...)` with launch and teardown timed and start failures translated."""

    def __init__(
        self,
        launcher: Launcher,
        principal: Principal,
        request_id: str,
        timings: Timings,
        launch_environment: Callable[[Principal], Awaitable[Mapping[str, str]]] | None = None,
    ) -> None:
        self._context = launcher.launch(principal, request_id=request_id)
        self._principal = principal
        self._launch_environment = launch_environment
        self._timings = timings

    async def __aenter__(self) -> AgentsMCPServer:
        started = time.perf_counter()
        try:
            extra = await self._launch_environment(self._principal) if self._launch_environment else {}
            with launch_additions(extra):
                return await self._context.__aenter__()
        except ToolServerError as exc:
            raise ToolServerUnavailableError() from exc
        finally:
            self._timings.launch = ms_since(started)

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        started = time.perf_counter()
        try:
            return await self._context.__aexit__(*exc_info)
        finally:
            self._timings.teardown = ms_since(started)


async def _ignore_failure(operation: Awaitable[None]) -> None:
    # Bookkeeping after the fact must never mask the request's own outcome; it is logged instead.
    try:
        await operation
    except Exception as exc:
        logger.error("could not record the end of a run: %s", type(exc).__name__)


def _model_error(exc: Exception) -> ModelError:
    # Upstream error text can echo prompts or keys: log the type, tell the user a fixed sentence.
    logger.warning("model call failed: %s", type(exc).__name__)
    if isinstance(exc, MaxTurnsExceeded):
        error = ModelError("The agent did not reach an answer within AGENT_MAX_TURNS turns.")
        error.code = "max_turns_exceeded"
        return error
    if isinstance(exc, EmptyAnswerError):
        return ModelError("The model returned an empty answer.")
    if isinstance(exc, ModelBehaviorError):
        return ModelError("The model returned a response the agent could not use.")
    if isinstance(exc, openai.APIStatusError):
        return ModelError(f"The model endpoint answered with HTTP {exc.status_code}.")
    return ModelError()
