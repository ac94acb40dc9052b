"""The service under load for the chat benchmark: `python -m bench.serve --mode M --port P --state DIR`.

The real app (`create_app`) with a scripted model that makes one `whoami` call per chat and then
answers. `--mode baseline` swaps in the shared in-process tool server (bench only).

With `--model-url` the app instead uses its configured model path (`OPENAI_BASE_URL`: the
OpenAI client and the Chat Completions model) against that OpenAI-compatible server, as in
production; the per-chat comparison runs it against `bench.model_stub`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import uvicorn
from agents import Model
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call

import chatgate.main
from bench.baseline import SharedInProcessLauncher
from bench.counters import DatabaseCounters
from chatgate.config import Settings


def one_tool_call(call: ModelCall) -> Any:
    """First turn: call `whoami`; second turn: answer with what it returned."""
    items = call.input if isinstance(call.input, list) else []
    if any(isinstance(item, dict) and item.get("type") == "function_call_output" for item in items):
        return [assistant_message("done")]
    return [function_call("whoami", {}, call_id="call_whoami")]


class SlowScriptedModel(ScriptedModel):
    """A scripted model that takes `latency` seconds per turn, like a real endpoint would."""

    latency = 0.0

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        if self.latency:
            await asyncio.sleep(self.latency)
        return await super().get_response(*args, **kwargs)


def scripted_model() -> Model:
    return SlowScriptedModel([ModelStep.respond(one_tool_call), ModelStep.respond(one_tool_call)])


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.serve")
    parser.add_argument("--mode", choices=["exec", "fork", "baseline"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--max-sessions", type=int, default=64)
    parser.add_argument("--model-latency-ms", type=float, default=0.0, help="simulated time per model turn")
    parser.add_argument("--chat-timeout-seconds", type=float, default=120.0, help="CHAT_TIMEOUT_SECONDS")
    parser.add_argument("--model-url", help="OpenAI-compatible base URL (…/v1) to use instead of the script")
    parser.add_argument(
        "--counters", action="store_true", help="count SQL statements and thread hops (GET /bench/counters)"
    )
    args = parser.parse_args()
    SlowScriptedModel.latency = args.model_latency_ms / 1000
    if args.mode == "baseline":
        chatgate.main.create_launcher = SharedInProcessLauncher  # type: ignore[attr-defined]
    model: dict[str, Any] = {}
    if args.model_url:
        model = {"OPENAI_BASE_URL": args.model_url, "OPENAI_API_KEY": "bench", "AGENT_MODEL": "scripted"}
    settings = Settings(
        _env_file=None,
        **model,
        CHATGATE_STATE_DIR=args.state,
        MCP_LAUNCHER="exec" if args.mode == "exec" else "fork",
        MAX_CONCURRENT_SESSIONS=args.max_sessions,
        ADMISSION_WAIT_SECONDS=60,
        CHAT_TIMEOUT_SECONDS=args.chat_timeout_seconds,
        MCP_CONNECT_TIMEOUT_SECONDS=120,
        MCP_TOOL_TIMEOUT_SECONDS=120,
        LOG_LEVEL="WARNING",
        # The load comes from a few users: per-user limits would measure 429s, not chats.
        RATE_LIMIT_CHATS_PER_MINUTE=0,
        MAX_CONCURRENT_CHATS_PER_USER=0,
    )
    app = chatgate.main.create_app(settings, model_provider=None if args.model_url else scripted_model)
    if args.counters:
        DatabaseCounters().install(app, app.state.services.chat.engine)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
