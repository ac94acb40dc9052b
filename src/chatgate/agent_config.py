"""The agent, configured: `[agent]` and `[[agents]]` in `CHATGATE_CONFIG`.

```toml
[agent]
name = "assistant"                       # agent_used in answers (default "chatgate")
instructions = "You help {user.name} …"  # or instructions_file = "prompts/assistant.md"
model = "gpt-4.1-mini"                   # optional: overrides AGENT_MODEL for this agent
temperature = 0.2                        # optional model settings: temperature, top_p, max_tokens,
                                         #   parallel_tool_calls, tool_choice
tools = ["records_*", "crm_*"]           # optional glob allowlist of tool names (default: every tool)
handoffs = ["billing"]                   # optional: agents this one may hand the conversation to
require_approval = ["records_delete"]    # optional: calls that wait for the user (globs, "destructive")

[[agents]]                               # further agents, reachable by handoff
name = "billing"
handoff_description = "Questions about invoices and payments"
instructions = "…"
tools = ["api_billing_*"]
```

Without `[agent]` the service behaves as it always has (one agent, "chatgate", every tool). The
API process validates everything here at start-up (`load_agent_team`, then `AgentTeam.check_tools`
against the served tool names); a tool server reads only the tool allowlists (`tool_allowlist`), to
hide and refuse every tool no agent may use. This module is shared by both processes and imports
nothing heavy.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatgate.tool_config import ToolConfigError, section

DEFAULT_AGENT_NAME = "chatgate"
DEFAULT_INSTRUCTIONS = """\
You are a helpful assistant working on the signed-in user's own data through tools.
- Use `whoami` to learn who the user is; you cannot act as anyone else, and no tool takes a user id.
- Use the `records_*` and table tools to keep and find the user's structured notes and tasks,
  the `files_*` tools for the user's documents, and `api_*` tools for the services the user connected.
- Prefer reading before changing; confirm destructive changes in your answer.
- If a tool reports an error, explain it plainly and do not invent results.
"""
# Agent names become handoff tool names (`transfer_to_<name>`): keep them plain identifiers.
AGENT_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"
MAX_INSTRUCTIONS_CHARS = 64_000
# What instructions may mention about the user. Never the id: the model must not learn a handle it
# could try to act on, and no tool would accept it anyway.
PLACEHOLDERS = ("user.name", "user.email", "now")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
_MAX_CLAIM_CHARS = 200
MISSING_CLAIM = "unknown"


class AgentEntry(BaseModel):
    """One `[agent]` or `[[agents]]` table, as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default=DEFAULT_AGENT_NAME, pattern=AGENT_NAME_PATTERN)
    instructions: str | None = Field(default=None, min_length=1, max_length=MAX_INSTRUCTIONS_CHARS)
    instructions_file: str | None = Field(default=None, min_length=1)
    handoff_description: str | None = Field(default=None, min_length=1, max_length=1000)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    parallel_tool_calls: bool | None = None
    tool_choice: str | None = Field(default=None, min_length=1, max_length=64)
    tools: tuple[str, ...] | None = None
    handoffs: tuple[str, ...] = ()
    require_approval: str | tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentSpec:
    """One agent, validated, with its instructions read."""

    name: str
    instructions: str
    handoff_description: str | None = None
    model: str | None = None
    # Only the settings the operator set: temperature, top_p, max_tokens, parallel_tool_calls, tool_choice.
    model_settings: dict[str, Any] = field(default_factory=dict)
    tools: tuple[str, ...] | None = None  # None: every tool
    handoffs: tuple[str, ...] = ()
    require_approval: tuple[str, ...] = ()  # globs of calls the user approves; "destructive": by hint

    def allows(self, tool: str) -> bool:
        return self.tools is None or any(fnmatchcase(tool, pattern) for pattern in self.tools)


@dataclass(frozen=True)
class AgentTeam:
    """The entry agent and every agent it can reach."""

    main: AgentSpec
    others: tuple[AgentSpec, ...] = ()

    @property
    def all(self) -> tuple[AgentSpec, ...]:
        return (self.main, *self.others)

    @property
    def restricts_tools(self) -> bool:
        return any(spec.tools is not None for spec in self.all)

    def check_tools(self, served: list[str], *, dynamic_prefixes: tuple[str, ...] = ()) -> None:
        """Every glob must match a served tool, and a named `tool_choice` must be one of the agent's.

        `dynamic_prefixes` name tools known only at run time (an operator MCP server's
        `mcp_<name>_…`): a glob that can match under one of them is accepted.

        Raises:
            ToolConfigError: naming the agent, the key and the pattern.
        """
        for spec in self.all:
            where = _where(spec.name, main=spec is self.main)
            for pattern in spec.tools or ():
                dynamic = any(
                    pattern.startswith(prefix) or fnmatchcase(prefix + "tool", pattern)
                    for prefix in dynamic_prefixes
                )
                if not dynamic and not any(fnmatchcase(name, pattern) for name in served):
                    raise ToolConfigError(f"{where} tools: {pattern!r} matches no tool this service serves")
            choice = spec.model_settings.get("tool_choice")
            if choice not in (None, "auto", "required", "none") and not (
                choice in served and spec.allows(choice)
            ):
                raise ToolConfigError(
                    f"{where} tool_choice: {choice!r} is not 'auto', 'required', 'none' or one of its tools"
                )


def runtime_tool_prefixes(config: dict[str, Any]) -> tuple[str, ...]:
    """Prefixes of tools listed only at run time: `mcp_<name>_` for each `[[mcp_servers]]` entry."""
    return tuple(
        f"mcp_{entry['name']}_"
        for entry in section(config, "mcp_servers")
        if isinstance(entry.get("name"), str)
    )


def default_team() -> AgentTeam:
    """Today's single agent: "chatgate", the built-in instructions, every tool."""
    return AgentTeam(main=AgentSpec(name=DEFAULT_AGENT_NAME, instructions=DEFAULT_INSTRUCTIONS))


def load_agent_team(config: dict[str, Any], *, base_dir: Path | None) -> AgentTeam:
    """`[agent]` and `[[agents]]`, validated; `instructions_file` is read relative to `base_dir`.

    Raises:
        ToolConfigError: an unknown key, a bad value, an unreadable instructions file, an unknown
            placeholder, a duplicate agent name or an unknown handoff name; the message names the key.
    """
    raw_main = config.get("agent", {})
    if not isinstance(raw_main, dict):
        raise ToolConfigError("[agent] in CHATGATE_CONFIG must be a table")
    main = _spec(raw_main, "[agent]", base_dir=base_dir, main=True)
    others = []
    for index, raw in enumerate(section(config, "agents")):
        name = raw.get("name")
        where = f"[[agents]] {name}" if isinstance(name, str) else f"[[agents]] entry {index + 1}"
        if "name" not in raw:
            raise ToolConfigError(f"{where}: name is required")
        if "instructions" not in raw and "instructions_file" not in raw:
            raise ToolConfigError(f"{where}: instructions or instructions_file is required")
        others.append(_spec(raw, where, base_dir=base_dir, main=False))
    team = AgentTeam(main=main, others=tuple(others))
    names = [spec.name for spec in team.all]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise ToolConfigError(f"[[agents]] name: {', '.join(duplicates)} is used by more than one agent")
    for spec in team.all:
        for target in spec.handoffs:
            if target not in names or target == spec.name:
                known = ", ".join(name for name in names if name != spec.name) or "none"
                raise ToolConfigError(
                    f"{_where(spec.name, main=spec is main)} handoffs: no agent named {target!r} "
                    f"to hand off to (agents: {known})"
                )
    return team


def tool_allowlist(config: dict[str, Any]) -> list[str] | None:
    """The union of every agent's tool globs, or None when some agent may use every tool.

    What a tool server serves: a tool no agent may use is not registered there at all, so a call to
    it is refused by the tool server itself. (Read leniently: the API process validated the file.)
    """
    main = config.get("agent")
    entries = [main if isinstance(main, dict) else {}, *section(config, "agents")]
    patterns: list[str] = []
    for entry in entries:
        tools = entry.get("tools")
        if not isinstance(tools, list):
            return None
        patterns.extend(str(pattern) for pattern in tools)
    return patterns


def render_instructions(template: str, claims: dict[str, str], now: datetime.datetime) -> str:
    """`template` with `{user.name}`, `{user.email}` and `{now}` filled in.

    Claim values come from the user's token: they are flattened to one line and capped, so a
    profile name cannot smuggle paragraphs of text into the system prompt; a missing one reads
    "unknown". `{now}` is UTC, ISO 8601, to the second.
    """
    values = {
        "user.name": _one_line(claims.get("name")),
        "user.email": _one_line(claims.get("email")),
        "now": now.astimezone(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)


def has_placeholders(template: str) -> bool:
    return _PLACEHOLDER.search(template) is not None


def _spec(raw: dict[str, Any], where: str, *, base_dir: Path | None, main: bool) -> AgentSpec:
    try:
        entry = AgentEntry.model_validate(raw)
    except ValidationError as exc:
        raise ToolConfigError(_describe(where, exc)) from None
    where = _where(entry.name, main=main)
    if entry.instructions is not None and entry.instructions_file is not None:
        raise ToolConfigError(f"{where} instructions_file: set instructions or instructions_file, not both")
    if entry.tools is not None and not all(pattern.strip() for pattern in entry.tools):
        raise ToolConfigError(f"{where} tools: each entry must be a tool name or a glob")
    approval = (a,) if isinstance(a := entry.require_approval, str) else a
    instructions = entry.instructions
    if entry.instructions_file is not None:
        instructions = _read_instructions(entry.instructions_file, where, base_dir)
    if instructions is None:
        instructions = DEFAULT_INSTRUCTIONS
    for match in _PLACEHOLDER.finditer(instructions):
        if match.group(1) not in PLACEHOLDERS:
            raise ToolConfigError(
                f"{where} instructions: unknown placeholder {{{match.group(1)}}}; only "
                "{user.name}, {user.email} and {now} are filled in (never the user id)"
            )
    settings = {
        key: value
        for key in ("temperature", "top_p", "max_tokens", "parallel_tool_calls", "tool_choice")
        if (value := getattr(entry, key)) is not None
    }
    return AgentSpec(
        name=entry.name,
        instructions=instructions,
        handoff_description=entry.handoff_description,
        model=entry.model,
        model_settings=settings,
        tools=entry.tools,
        handoffs=entry.handoffs,
        require_approval=approval,
    )


def _read_instructions(relative: str, where: str, base_dir: Path | None) -> str:
    path = Path(relative) if base_dir is None else base_dir / relative
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ToolConfigError(f"{where} instructions_file: {relative!r} cannot be read ({reason})") from None
    if not text.strip() or len(text) > MAX_INSTRUCTIONS_CHARS:
        raise ToolConfigError(
            f"{where} instructions_file: {relative!r} must hold 1 to {MAX_INSTRUCTIONS_CHARS} characters"
        )
    return text


def _describe(where: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "entry"
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key {key!r}")
        else:
            problems.append(f"{key}: {error['msg'].removeprefix('Value error, ')}")
    return f"{where}: {'; '.join(problems)}"


def _where(name: str, *, main: bool) -> str:
    return "[agent]" if main else f"[[agents]] {name}"


def _one_line(value: str | None) -> str:
    if not value:
        return MISSING_CLAIM
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    return flat[:_MAX_CLAIM_CHARS] or MISSING_CLAIM
