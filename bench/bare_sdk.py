"""The floor: the same scripted chats with the Agents SDK alone (`python -m bench.bare_sdk`).

`Runner.run` with in-process function tools against the same OpenAI-compatible model stub, through
the same client configuration chatgate uses (`OpenAIChatCompletionsModel` over one pooled
`AsyncOpenAI`, tracing off) on the same event loop (uvloop): no HTTP front, no auth, no
conversation store, no tool-server process.
What chatgate spends above this is its own cost.

`--tools whoami` offers one function tool; `--tools catalog` offers chatgate's whole default catalog
as function tools with the same names, descriptions and schemas (only `whoami` does anything), so
the cost of sending and converting that many schemas per model call can be told apart from the
rest of chatgate's cost.

The driver owns the measurement: this process reads one JSON command per line on stdin,
`{"kind": "tool" | "none", "chats": N}`, runs N sequential chats and answers one line
`{"wall_ms": [...], "failures": N}` on stdout; the driver samples its CPU around each command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import uvloop
from agents import (
    Agent,
    FunctionTool,
    OpenAIChatCompletionsModel,
    RunConfig,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.items import ToolCallOutputItem
from agents.tool_context import ToolContext
from openai import AsyncOpenAI

from chatgate.agents import INSTRUCTIONS

BARE_USER = "bare-sdk-user"
MESSAGES = {"tool": "Who am I?", "none": "Say hello."}


# Async, like chatgate's own `whoami`: a sync function tool would add a worker-thread hop per call.
@function_tool
async def whoami() -> dict[str, Any]:
    """Return the signed-in user's id and profile (email, name) as the service knows them."""
    return {"user_id": BARE_USER, "email": f"{BARE_USER}@example.com"}


async def _unused(_context: ToolContext[Any], _arguments: str) -> str:
    return "{}"


async def catalog_tools() -> list[FunctionTool]:
    """chatgate's default tool catalog as function tools: `whoami` real, the others inert."""
    from chatgate.mcp_server.server import build_server
    from chatgate.mcp_server.settings import BoundIdentity, ChildSettings

    server = build_server(ChildSettings(identity=BoundIdentity(user_id=BARE_USER)))
    tools: list[FunctionTool] = [whoami]
    for tool in await server.list_tools():
        if tool.name == whoami.name:
            continue
        tools.append(
            FunctionTool(
                name=tool.name,
                description=tool.description or "",
                params_json_schema=tool.input_schema,
                on_invoke_tool=_unused,
                # The SDK's MCP conversion leaves schemas non-strict by default; so does this.
                strict_json_schema=False,
            )
        )
    return tools


async def run_chats(agent: Agent[None], config: RunConfig, kind: str, chats: int) -> dict[str, Any]:
    wall_ms: list[float] = []
    failures = 0
    for _ in range(chats):
        started = time.perf_counter()
        result = await Runner.run(agent, MESSAGES[kind], run_config=config)
        wall_ms.append((time.perf_counter() - started) * 1000)
        called = any(isinstance(item, ToolCallOutputItem) for item in result.new_items)
        if not result.final_output or called != (kind == "tool"):
            failures += 1
    return {"wall_ms": wall_ms, "failures": failures}


async def serve(model_url: str, tools: str) -> None:
    set_tracing_disabled(True)
    client = AsyncOpenAI(api_key="bench", base_url=model_url, max_retries=1)
    agent = Agent[None](
        name="bare",
        instructions=INSTRUCTIONS,
        model=OpenAIChatCompletionsModel(model="scripted", openai_client=client),
        tools=list(await catalog_tools()) if tools == "catalog" else [whoami],
    )
    config = RunConfig(tracing_disabled=True)
    # Commands are read on the event loop itself: no reader thread sits in the measured process.
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while line := await reader.readline():
        command = json.loads(line)
        answer = await run_chats(agent, config, command["kind"], int(command["chats"]))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_sdk", description=__doc__)
    parser.add_argument("--model-url", required=True, help="the stub's base URL, ending in /v1")
    parser.add_argument("--tools", choices=["whoami", "catalog"], default="whoami")
    args = parser.parse_args()
    # The event loop chatgate runs on (uvicorn picks uvloop when it is installed, as here).
    uvloop.run(serve(args.model_url, args.tools))


if __name__ == "__main__":
    main()
