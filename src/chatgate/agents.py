"""The agent: built per request around that request's tool server.

(This module lives inside the package on purpose: a top-level `agents.py` would shadow the SDK.)
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from agents import (
    Agent,
    Model,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunConfig,
    RunContextWrapper,
)
from agents import set_tracing_disabled as sdk_set_tracing_disabled
from agents.mcp import MCPServer as AgentsMCPServer
from agents.mcp import ToolFilterContext
from agents.models.reasoning_content_replay import (
    ReasoningContentReplayContext,
    default_should_replay_reasoning_content,
)
from mcp.types import Tool as MCPTool
from openai import AsyncOpenAI

from chatgate.agent_config import (
    DEFAULT_AGENT_NAME,
    DEFAULT_INSTRUCTIONS,
    AgentSpec,
    AgentTeam,
    default_team,
    has_placeholders,
    load_agent_team,
    render_instructions,
    runtime_tool_prefixes,
)
from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.empty_answers import RefuseEmptyAnswers
from chatgate.model_wire.transport import NormalisingClient
from chatgate.tool_config import check_sections, load_tool_config

AGENT_NAME = DEFAULT_AGENT_NAME
INSTRUCTIONS = DEFAULT_INSTRUCTIONS

# A zero-argument factory: a fresh `Model` per request (tests inject scripted ones).
ModelProvider = Callable[[], Model]


@runtime_checkable
class NamedModels(Protocol):
    """A provider that can also make a model by name (an agent's own `model`): the configured
    endpoint, or a wrapper of it (the metrics' `ObservedProvider`)."""

    def __call__(self) -> Model: ...

    def named(self, model_name: str) -> Model: ...


class ConfiguredModel:
    """The configured model endpoint: a fresh `Model` per call over one pooled client."""

    def __init__(self, settings: Settings) -> None:
        api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        # Local OpenAI-compatible servers (Ollama, vLLM) ignore the key, but the client requires one.
        self._client = AsyncOpenAI(
            api_key=api_key or "not-needed",
            base_url=settings.openai_base_url,
            timeout=settings.chat_timeout_seconds,
            max_retries=1,
            # Answers of OpenAI-compatible servers are made well-formed before the SDK reads them.
            http_client=NormalisingClient(),
        )
        self._model_name = settings.agent_model
        # A custom base URL usually means an OpenAI-compatible server, and most speak only Chat Completions.
        if settings.openai_api is not None:
            self._chat_completions = settings.openai_api == "chat_completions"
        else:
            self._chat_completions = settings.openai_base_url is not None

    def __call__(self) -> Model:
        return self.named(self._model_name)

    def named(self, model_name: str) -> Model:
        """A `Model` for `model_name` on the same endpoint (an agent's own `model` setting)."""
        if self._chat_completions:
            return OpenAIChatCompletionsModel(
                model=model_name,
                openai_client=self._client,
                should_replay_reasoning_content=replay_own_reasoning,
            )
        return OpenAIResponsesModel(model=model_name, openai_client=self._client)

    async def aclose(self) -> None:
        await self._client.close()


def model_provider_from_settings(settings: Settings) -> ConfiguredModel | None:
    """The configured model, or None when neither `OPENAI_API_KEY` nor `OPENAI_BASE_URL` is set."""
    if not settings.model_configured:
        return None
    return ConfiguredModel(settings)


def replay_own_reasoning(context: ReasoningContentReplayContext) -> bool:
    """Send a model's `reasoning_content` back to that same model on the next request.

    Thinking models (DeepSeek, Kimi, GLM, Qwen served by vLLM …) may refuse a tool-call turn whose
    reasoning is missing; the SDK replays it by default only to models named "deepseek". Reasoning
    is never sent to a model other than the one that produced it.
    """
    origin = context.reasoning.origin_model
    same_model = origin is not None and origin == context.model
    return same_model or default_should_replay_reasoning_content(context)


def set_tracing(settings: Settings) -> None:
    """Tracing exports to OpenAI; it stays off unless `OPENAI_TRACING` enables it."""
    sdk_set_tracing_disabled(not settings.openai_tracing)


def build_agent(model: Model, tool_server: AgentsMCPServer) -> Agent[None]:
    """The default agent for one request, wired to that request's tool server only."""
    return Agent(
        name=AGENT_NAME,
        instructions=INSTRUCTIONS,
        model=RefuseEmptyAnswers(model),
        # Usage is asked for on every call: the SDK asks only api.openai.com, and proxies (LiteLLM,
        # vLLM, Ollama) stream none unless asked, so streamed runs would record 0 tokens.
        model_settings=ModelSettings(include_usage=True),
        mcp_servers=[tool_server],
    )


def agent_team_from_settings(settings: Settings) -> AgentTeam:
    """The configured agents (`[agent]`, `[[agents]]`), checked against the tools actually served.

    Raises:
        ToolConfigError: the configuration is invalid; the message names the key.
    """
    if settings.config_file is None:
        return default_team()
    from chatgate.tool_catalog import served_tool_names  # needs the server SDK

    config = load_tool_config(settings.config_file)
    check_sections(config)
    team = load_agent_team(config, base_dir=settings.config_file.resolve().parent)
    # Also imports and checks every declared table and toolset, so a mistake refuses start-up.
    team.check_tools(served_tool_names(settings), dynamic_prefixes=runtime_tool_prefixes(config))
    return team


def build_agents(
    team: AgentTeam,
    provider: ModelProvider,
    tool_server: AgentsMCPServer,
    principal: Principal,
    extra_servers: Sequence[AgentsMCPServer] = (),
) -> Agent[None]:
    """The entry agent of `team` for one request, with every agent it can hand off to.

    All agents share the request's one tool server and the caller's operator MCP servers
    (`extra_servers`); each sees only its own allowlisted tools (the tool server itself serves only
    tools some agent may use). An agent's own `model` applies when `provider` is the configured
    endpoint; an injected provider (tests) serves every agent.
    """
    shared = provider()
    claims = principal.profile_claims()
    agents: dict[str, Agent[None]] = {}
    for spec in team.all:
        model = provider.named(spec.model) if spec.model and isinstance(provider, NamedModels) else shared
        agents[spec.name] = Agent(
            name=spec.name,
            instructions=_instructions(spec, claims),
            handoff_description=spec.handoff_description,
            model=RefuseEmptyAnswers(model),
            # Usage is asked for on every call (see `build_agent`).
            model_settings=ModelSettings(include_usage=True, **spec.model_settings),
            mcp_servers=[tool_server, *extra_servers],
        )
    for spec in team.all:
        agents[spec.name].handoffs = [agents[name] for name in spec.handoffs]
    if team.restricts_tools:
        # The SDK's stdio-style servers (every launcher's) filter per agent through this attribute.
        for server in (tool_server, *extra_servers):
            if not hasattr(server, "tool_filter"):
                raise TypeError(f"{type(server).__name__} cannot filter tools per agent")
            server.tool_filter = _agent_tool_filter(team)
    return agents[team.main.name]


def _instructions(spec: AgentSpec, claims: dict[str, str]) -> Any:
    if not has_placeholders(spec.instructions):
        return spec.instructions  # a fixed prompt, exactly as configured (the default's case)

    def render(_context: RunContextWrapper[None], _agent: Agent[None]) -> str:
        # Per model call: `{now}` is when the model is asked, not when the request began.
        return render_instructions(spec.instructions, claims, datetime.datetime.now(datetime.UTC))

    return render


def _agent_tool_filter(team: AgentTeam) -> Callable[[ToolFilterContext, MCPTool], bool]:
    specs = {spec.name: spec for spec in team.all}

    def allowed(context: ToolFilterContext, tool: MCPTool) -> bool:
        spec = specs.get(context.agent.name)
        return spec is not None and spec.allows(tool.name)

    return allowed


def run_config(settings: Settings) -> RunConfig:
    return RunConfig(
        tracing_disabled=not settings.openai_tracing,
        trace_include_sensitive_data=False,
        # A hallucinated tool name is the model's mistake: tell it, don't fail the user's request.
        tool_not_found_behavior="return_error_to_model",
    )
