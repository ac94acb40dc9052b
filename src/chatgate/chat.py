"""One chat turn: admit, launch the user's tool server, run the agent, tear down, report.

Everything the SDKs can raise is translated here into `chatgate.errors`, so routes only shape
responses. The tool server is torn down on every path (the launcher guarantees it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import openai
from agents import Agent, Runner
from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError, ModelTimeoutError
from agents.items import ToolCallItem, ToolCallOutputItem
from agents.mcp import MCPServer as AgentsMCPServer
from agents.result import RunResultBase
from agents.stream_events import StreamEvent

from chatgate.admission import Admission
from chatgate.agents import AGENT_NAME, ModelProvider, build_agent, run_config
from chatgate.config import Settings
from chatgate.errors import (
    DeadlineExceededError,
    ModelError,
    ModelNotConfiguredError,
    ToolServerUnavailableError,
)
from chatgate.launcher import Launcher, ToolServerStartError
from chatgate.launcher.agents_server import TOOL_OK_KEY
from chatgate.launcher.environment import launch_additions
from chatgate.principal import Principal

logger = logging.getLogger(__name__)

# Receives each SDK stream event of a streamed run, in order.
EventSink = Callable[[StreamEvent], Awaitable[None]]


@dataclass(frozen=True)
class ToolUse:
    name: str
    ok: bool


@dataclass
class Timings:
    """Milliseconds spent launching the tool server, running the agent and tearing down."""

    launch: float = 0.0
    run: float = 0.0
    teardown: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "launch": round(self.launch, 1),
            "run": round(self.run, 1),
            "teardown": round(self.teardown, 1),
        }


@dataclass
class ChatResult:
    response: str
    agent_used: str
    tools_used: list[ToolUse]
    usage: dict[str, int]
    timings: Timings = field(default_factory=Timings)


@dataclass
class ChatService:
    """The collaborators of a chat turn, built once per app."""

    settings: Settings
    launcher: Launcher
    admission: Admission
    model_provider: ModelProvider | None
    # Extra tool-server variables for one principal (API tools: that user's own credentials).
    launch_environment: Callable[[Principal], Awaitable[Mapping[str, str]]] | None = None

    async def chat(
        self,
        principal: Principal,
        message: str,
        *,
        request_id: str,
        timings: Timings,
        on_event: EventSink | None = None,
    ) -> ChatResult:
        """Answer `message` for `principal` with a fresh tool server bound to them.

        With `on_event`, the run is streamed and every SDK stream event is passed to it as it happens.
        `timings` is filled in as phases complete, so a failed request still reports them.

        Raises:
            ModelNotConfiguredError, SaturatedError, ToolServerUnavailableError, ModelError,
            DeadlineExceededError.
        """
        if self.model_provider is None:
            raise ModelNotConfiguredError()
        model = self.model_provider()
        deadline = self.settings.chat_timeout_seconds
        try:
            with anyio.fail_after(deadline):
                async with self.admission.slot(), self._session(principal, request_id, timings) as server:
                    started = time.perf_counter()
                    try:
                        result = await self._run(build_agent(model, server), message, on_event)
                    finally:
                        timings.run = _ms_since(started)
        except TimeoutError:
            raise DeadlineExceededError(
                f"The agent did not finish within {deadline:g} seconds (CHAT_TIMEOUT_SECONDS)."
            ) from None
        except (openai.APIError, ModelBehaviorError, ModelTimeoutError, MaxTurnsExceeded) as exc:
            raise _model_error(exc) from None
        return ChatResult(
            response=_final_text(result),
            agent_used=result.last_agent.name if result.last_agent else AGENT_NAME,
            tools_used=tools_used(result),
            usage=usage_of(result),
            timings=timings,
        )

    async def _run(self, agent: Agent[None], message: str, on_event: EventSink | None) -> RunResultBase:
        config = run_config(self.settings)
        max_turns = self.settings.agent_max_turns
        if on_event is None:
            return await Runner.run(agent, message, max_turns=max_turns, run_config=config)
        streamed = Runner.run_streamed(agent, message, max_turns=max_turns, run_config=config)
        async for event in streamed.stream_events():
            await on_event(event)
        return streamed

    def _session(self, principal: Principal, request_id: str, timings: Timings) -> _TimedSession:
        return _TimedSession(self.launcher, principal, request_id, timings, self.launch_environment)

    async def list_tools(self, principal: Principal, *, request_id: str) -> list[dict[str, Any]]:
        """The tool catalog `principal`'s agent would see, read from a real tool server."""
        async with self.admission.slot(), self._session(principal, request_id, Timings()) as server:
            tools = await server.list_tools()
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
        self._exit_started = 0.0

    async def __aenter__(self) -> AgentsMCPServer:
        started = time.perf_counter()
        try:
            extra = await self._launch_environment(self._principal) if self._launch_environment else {}
            with launch_additions(extra):
                return await self._context.__aenter__()
        except ToolServerStartError as exc:
            raise ToolServerUnavailableError() from exc
        finally:
            self._timings.launch = _ms_since(started)

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        started = time.perf_counter()
        try:
            return await self._context.__aexit__(*exc_info)
        finally:
            self._timings.teardown = _ms_since(started)


def _model_error(exc: Exception) -> ModelError:
    # Upstream error text can echo prompts or keys: log the type, tell the user a fixed sentence.
    logger.warning("model call failed: %s", type(exc).__name__)
    if isinstance(exc, MaxTurnsExceeded):
        error = ModelError("The agent did not reach an answer within AGENT_MAX_TURNS turns.")
        error.code = "max_turns_exceeded"
        return error
    if isinstance(exc, ModelBehaviorError):
        return ModelError("The model returned a response the agent could not use.")
    if isinstance(exc, openai.APIStatusError):
        return ModelError(f"The model endpoint answered with HTTP {exc.status_code}.")
    return ModelError()


def _final_text(result: RunResultBase) -> str:
    output = result.final_output
    return output if isinstance(output, str) else str(output or "")


def tools_used(result: RunResultBase) -> list[ToolUse]:
    """The tools the agent called, in order, with whether each succeeded."""
    names: dict[str, str] = {}
    used: list[ToolUse] = []
    for item in result.new_items:
        if isinstance(item, ToolCallItem):
            call_id = getattr(item.raw_item, "call_id", None)
            name = getattr(item.raw_item, "name", None)
            if isinstance(call_id, str) and isinstance(name, str):
                names[call_id] = name
        elif isinstance(item, ToolCallOutputItem):
            raw = item.raw_item
            call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
            ok = bool((item.custom_data or {}).get(TOOL_OK_KEY, False))
            used.append(ToolUse(name=names.get(str(call_id), "unknown"), ok=ok))
    return used


def usage_of(result: RunResultBase) -> dict[str, int]:
    usage = result.context_wrapper.usage
    return {
        "requests": usage.requests,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
