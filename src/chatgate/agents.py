"""The agent: built per request around that request's tool server.

(This module lives inside the package on purpose: a top-level `agents.py` would shadow the SDK.)
"""

from __future__ import annotations

from collections.abc import Callable

from agents import Agent, Model, ModelSettings, OpenAIChatCompletionsModel, OpenAIResponsesModel, RunConfig
from agents import set_tracing_disabled as sdk_set_tracing_disabled
from agents.mcp import MCPServer as AgentsMCPServer
from agents.models.reasoning_content_replay import (
    ReasoningContentReplayContext,
    default_should_replay_reasoning_content,
)
from openai import AsyncOpenAI

from chatgate.config import Settings
from chatgate.empty_answers import RefuseEmptyAnswers
from chatgate.model_wire.transport import NormalisingClient

AGENT_NAME = "chatgate"

INSTRUCTIONS = """\
You are a helpful assistant working on the signed-in user's own data through tools.
- Use `whoami` to learn who the user is; you cannot act as anyone else, and no tool takes a user id.
- Use the `records_*` and table tools to keep and find the user's structured notes and tasks,
  the `files_*` tools for the user's documents, and `api_*` tools for the services the user connected.
- Prefer reading before changing; confirm destructive changes in your answer.
- If a tool reports an error, explain it plainly and do not invent results.
"""

# A zero-argument factory: a fresh `Model` per request (tests inject scripted ones).
ModelProvider = Callable[[], Model]


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
        if self._chat_completions:
            return OpenAIChatCompletionsModel(
                model=self._model_name,
                openai_client=self._client,
                should_replay_reasoning_content=replay_own_reasoning,
            )
        return OpenAIResponsesModel(model=self._model_name, openai_client=self._client)

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
    """The agent for one request, wired to that request's tool server only."""
    return Agent(
        name=AGENT_NAME,
        instructions=INSTRUCTIONS,
        model=RefuseEmptyAnswers(model),
        # Usage is asked for on every call: the SDK asks only api.openai.com, and proxies (LiteLLM,
        # vLLM, Ollama) stream none unless asked, so streamed runs would record 0 tokens.
        model_settings=ModelSettings(include_usage=True),
        mcp_servers=[tool_server],
    )


def run_config(settings: Settings) -> RunConfig:
    return RunConfig(
        tracing_disabled=not settings.openai_tracing,
        trace_include_sensitive_data=False,
        # A hallucinated tool name is the model's mistake: tell it, don't fail the user's request.
        tool_not_found_behavior="return_error_to_model",
    )
