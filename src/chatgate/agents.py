"""The agent: built per request around that request's tool server.

(This module lives inside the package on purpose: a top-level `agents.py` would shadow the SDK.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agents import Agent, Model, OpenAIChatCompletionsModel, OpenAIResponsesModel, RunConfig
from agents import set_tracing_disabled as sdk_set_tracing_disabled
from agents.mcp import MCPServer as AgentsMCPServer
from openai import AsyncOpenAI

from chatgate.config import Settings

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
        )
        self._model_name = settings.agent_model
        # A custom base URL usually means an OpenAI-compatible server, and most speak only Chat Completions.
        if settings.openai_api is not None:
            self._chat_completions = settings.openai_api == "chat_completions"
        else:
            self._chat_completions = settings.openai_base_url is not None

    def __call__(self) -> Model:
        if self._chat_completions:
            return OpenAIChatCompletionsModel(model=self._model_name, openai_client=self._client)
        return OpenAIResponsesModel(model=self._model_name, openai_client=self._client)

    async def aclose(self) -> None:
        await self._client.close()


def model_provider_from_settings(settings: Settings) -> ConfiguredModel | None:
    """The configured model, or None when neither `OPENAI_API_KEY` nor `OPENAI_BASE_URL` is set."""
    if not settings.model_configured:
        return None
    return ConfiguredModel(settings)


def set_tracing(settings: Settings) -> None:
    """Tracing exports to OpenAI; it stays off unless `OPENAI_TRACING` enables it."""
    sdk_set_tracing_disabled(not settings.openai_tracing)


def build_agent(
    model: Model, tool_server: AgentsMCPServer, extra_servers: Sequence[AgentsMCPServer] = ()
) -> Agent[None]:
    """The agent for one request, wired to that request's tool server and the caller's operator MCP
    servers (`extra_servers`) only."""
    return Agent(
        name=AGENT_NAME, instructions=INSTRUCTIONS, model=model, mcp_servers=[tool_server, *extra_servers]
    )


def run_config(settings: Settings) -> RunConfig:
    return RunConfig(
        tracing_disabled=not settings.openai_tracing,
        trace_include_sensitive_data=False,
        # A hallucinated tool name is the model's mistake: tell it, don't fail the user's request.
        tool_not_found_behavior="return_error_to_model",
    )
