"""Chat Completions answers made usable before the Agents SDK reads them.

OpenAI-compatible servers (Ollama, vLLM, LiteLLM, llama.cpp, …) answer in shapes OpenAI never sends,
and the SDK either crashes on them (a 500) or stores them and every later request of the
conversation is refused (a conversation poisoned). `ChatCompletionsWire`, the HTTP transport of the
model client, rewrites each `/chat/completions` answer, JSON or streamed, into the shape OpenAI
itself would send (`normalise` says exactly what changes). Nothing else is touched: requests,
other endpoints, error answers.

    transport.py   the httpx2 transport (the OpenAI client's HTTP layer): JSON bodies and SSE lines
    normalise.py   pure functions over decoded JSON: tool calls, ids, streamed deltas, surrogates
"""

from chatgate.model_wire.transport import ChatCompletionsWire

__all__ = ["ChatCompletionsWire"]
