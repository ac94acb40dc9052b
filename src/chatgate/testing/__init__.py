"""Test a chatgate configuration for isolation per user: a pytest plugin and the helpers behind it.

    def test_no_tool_leaks_across_users(chatgate_app):
        assert_isolated(chatgate_app)

- `plugin`: the fixtures (`chatgate_app`, `scripted_model`, `token_for`, `call_tool`, …), registered
  through the `pytest11` entry point; see docs/testing.md.
- `app`: `ChatgateApp`, a live service (HTTP as any user, tool calls through bound tool servers).
- `tool_session`: tool calls without a model (`ToolResult`, `ToolSession`).
- `model`: `ScriptedModelServer`, an OpenAI-compatible model that answers from a script.
- `isolation` (with `isolation_plans`): `assert_isolated`, driven by tool schemas and annotations.
- `arguments`: example arguments from a JSON schema, with marker strings.

The names below are imported on first use: pytest loads the plugin for every run in an environment
where chatgate is installed, and that must not cost the SDK imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatgate.testing.app import ChatgateApp, mint_token
    from chatgate.testing.isolation import IsolationReport, Leak, assert_isolated
    from chatgate.testing.isolation_plans import Call
    from chatgate.testing.model import (
        ModelReply,
        ModelRequest,
        ScriptedModelServer,
        answer,
        failure,
        report_tool_outputs,
        tool_call,
    )
    from chatgate.testing.tool_session import ToolNotFoundError, ToolResult, ToolSession

_HOMES = {
    "ChatgateApp": "app",
    "mint_token": "app",
    "IsolationReport": "isolation",
    "Leak": "isolation",
    "assert_isolated": "isolation",
    "Call": "isolation_plans",
    "ModelReply": "model",
    "ModelRequest": "model",
    "ScriptedModelServer": "model",
    "answer": "model",
    "failure": "model",
    "report_tool_outputs": "model",
    "tool_call": "model",
    "ToolNotFoundError": "tool_session",
    "ToolResult": "tool_session",
    "ToolSession": "tool_session",
}

__all__ = [
    "Call",
    "ChatgateApp",
    "IsolationReport",
    "Leak",
    "ModelReply",
    "ModelRequest",
    "ScriptedModelServer",
    "ToolNotFoundError",
    "ToolResult",
    "ToolSession",
    "answer",
    "assert_isolated",
    "failure",
    "mint_token",
    "report_tool_outputs",
    "tool_call",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
