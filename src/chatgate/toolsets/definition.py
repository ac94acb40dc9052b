"""What an operator writes: a `Toolset` of async Python tools, and the `ToolError` they may raise.

```python
toolset = Toolset("crm")

@toolset.tool(read_only=True)
async def crm_find_contact(ctx: ToolContext, query: Annotated[str, Field(description="…")]) -> dict: ...
```

The decorator only records the function (and returns it unchanged, so it stays callable in the
operator's own tests); everything that needs the signature resolved (the input schema, the
parameter-name check) happens when the tool server registers it (`chatgate.mcp_server.tools.toolsets`),
which the API process also does once at start-up, so a mistake refuses to start the service.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

TOOLSET_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
TOOL_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Prefixes the built-in tool groups own; a toolset of one of these names would shadow them.
RESERVED_TOOLSET_NAMES = frozenset({"records", "files", "api", "mcp", "whoami", "tasks"})

# The `_meta` key marking a tool whose calls the user must approve (`needs_approval=True`): set by
# the tool server, read by the API process's approval policy (`chatgate.approvals.policy`).
NEEDS_APPROVAL_META = "chatgate/needsApproval"

ToolFunction = Callable[..., Awaitable[Any]]
_F = TypeVar("_F", bound=ToolFunction)


class ToolError(Exception):
    """A failure the model may read: its message reaches the model verbatim.

    Keep it short, actionable and free of secrets, SQL and paths. Any other exception a tool raises
    is withheld from the model (it reads only that the tool failed) and logged by the tool server.
    """


class ToolsetDefinitionError(ValueError):
    """A toolset or tool is declared wrongly (raised while the operator's module is imported)."""


@dataclass(frozen=True)
class ToolDefinition:
    """One registered tool, as declared."""

    toolset: str
    name: str
    fn: ToolFunction
    description: str
    read_only: bool
    # MCP semantics: may this tool destroy or replace existing data? (False whenever read_only.)
    destructive: bool
    idempotent: bool | None
    open_world: bool | None
    # Kept for the approval flow: a call must be confirmed by the user before it runs.
    needs_approval: bool


class Toolset:
    """A named group of tools; each tool's name starts with the toolset's name and an underscore."""

    def __init__(self, name: str, *, description: str = "") -> None:
        """Raises:
        ToolsetDefinitionError: the name is not a lowercase identifier, or a built-in prefix.
        """
        if not TOOLSET_NAME.fullmatch(name) or name in RESERVED_TOOLSET_NAMES:
            raise ToolsetDefinitionError(
                f"Toolset name {name!r} must be a lowercase identifier of at most 32 characters, "
                f"not one of {sorted(RESERVED_TOOLSET_NAMES)}"
            )
        self.name = name
        self.description = description
        self._tools: dict[str, ToolDefinition] = {}

    @property
    def tools(self) -> tuple[ToolDefinition, ...]:
        """The declared tools, in declaration order."""
        return tuple(self._tools.values())

    @overload
    def tool(self, fn: _F, /) -> _F: ...

    @overload
    def tool(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        read_only: bool = False,
        destructive: bool | None = None,
        idempotent: bool | None = None,
        open_world: bool | None = None,
        needs_approval: bool = False,
    ) -> Callable[[_F], _F]: ...

    def tool(
        self,
        fn: ToolFunction | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        read_only: bool = False,
        destructive: bool | None = None,
        idempotent: bool | None = None,
        open_world: bool | None = None,
        needs_approval: bool = False,
    ) -> Any:
        """Register an async function as a tool (`@toolset.tool` or `@toolset.tool(read_only=True)`).

        Args:
            name: the tool's name; default the function's name. Must start with `<toolset>_`.
            description: what the model reads; default the docstring. One imperative sentence.
            read_only: the tool changes nothing (MCP `readOnlyHint`; its database transaction is
                read-only on PostgreSQL).
            destructive: the tool may replace or delete existing data (MCP `destructiveHint`);
                default True for tools that are not read-only, as MCP assumes.
            idempotent: repeating a call changes nothing more (MCP `idempotentHint`).
            open_world: the tool reaches outside the user's data, e.g. an external API.
            needs_approval: the user must confirm each call before it runs.

        Raises:
            ToolsetDefinitionError: not an async function, a bad or duplicate name, or
                `read_only` together with `destructive=True`.
        """

        def register(function: ToolFunction) -> ToolFunction:
            self._add(
                function,
                name=name,
                description=description,
                read_only=read_only,
                destructive=destructive,
                idempotent=idempotent,
                open_world=open_world,
                needs_approval=needs_approval,
            )
            return function

        return register(fn) if fn is not None else register

    def _add(
        self,
        fn: ToolFunction,
        *,
        name: str | None,
        description: str | None,
        read_only: bool,
        destructive: bool | None,
        idempotent: bool | None,
        open_world: bool | None,
        needs_approval: bool,
    ) -> None:
        tool_name: str = name if name else str(getattr(fn, "__name__", ""))
        where = f"toolset {self.name}: tool {tool_name!r}"
        if not inspect.iscoroutinefunction(fn):
            raise ToolsetDefinitionError(f"{where} must be an async function (async def)")
        if not TOOL_NAME.fullmatch(tool_name) or not tool_name.startswith(f"{self.name}_"):
            raise ToolsetDefinitionError(
                f"{where}: a tool name is a lowercase identifier starting with '{self.name}_'"
            )
        if tool_name in self._tools:
            raise ToolsetDefinitionError(f"{where} is declared twice")
        if read_only and destructive:
            raise ToolsetDefinitionError(f"{where} cannot be both read_only and destructive")
        text = " ".join((description or inspect.getdoc(fn) or "").split("\n\n", 1)[0].split())
        if not text:
            raise ToolsetDefinitionError(
                f"{where} needs a description (a docstring or description=…): the model reads it"
            )
        self._tools[tool_name] = ToolDefinition(
            toolset=self.name,
            name=tool_name,
            fn=fn,
            description=text,
            read_only=read_only,
            destructive=(not read_only) if destructive is None else destructive,
            idempotent=idempotent,
            open_world=open_world,
            needs_approval=needs_approval,
        )
