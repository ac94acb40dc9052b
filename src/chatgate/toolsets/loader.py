"""The `[[toolsets]]` section of `CHATGATE_CONFIG`: operator modules holding `Toolset`s.

```toml
[[toolsets]]
module = "crm.tools"   # imported by the API process at start-up and by every tool server
path = "."             # optional: a directory put on the import path, relative to the config file
```

Every `Toolset` defined at the top level of the module is served. The `path` directories are put on
the import path before any operator module is imported, `[[tables]]` models included, so one
operator package can hold its models, its service layer and its tools.
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatgate.tool_config import ToolConfigError, section
from chatgate.toolsets.definition import Toolset

_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_KEYS = frozenset({"module", "path"})


@dataclass(frozen=True)
class ToolsetEntry:
    """One `[[toolsets]]` entry, validated."""

    module: str
    path: Path | None


def toolset_entries(config: dict[str, Any], *, base_dir: Path | None) -> list[ToolsetEntry]:
    """The `[[toolsets]]` entries; relative paths are resolved against `base_dir` (the config's folder).

    Raises:
        ToolConfigError: an unknown key, a missing or malformed module name, or a path that is not
            a directory.
    """
    entries: list[ToolsetEntry] = []
    for index, raw in enumerate(section(config, "toolsets")):
        module = raw.get("module")
        where = f"[[toolsets]] entry {index + 1}" + (f" ({module})" if isinstance(module, str) else "")
        if unknown := sorted(set(raw) - _KEYS):
            raise ToolConfigError(
                f"{where}: unknown key {', '.join(map(repr, unknown))} (known: module, path)"
            )
        if not isinstance(module, str) or not _MODULE_NAME.fullmatch(module):
            raise ToolConfigError(f"{where}: module must be a dotted module name, like 'crm.tools'")
        path = raw.get("path")
        directory: Path | None = None
        if path is not None:
            if not isinstance(path, str) or not path:
                raise ToolConfigError(f"{where}: path must be a directory, relative to the config file")
            directory = Path(path) if base_dir is None else (base_dir / path)
            directory = directory.resolve()
            if not directory.is_dir():
                raise ToolConfigError(f"{where}: path {path!r} is not a directory ({directory})")
        entries.append(ToolsetEntry(module=module, path=directory))
    modules = [entry.module for entry in entries]
    if duplicates := sorted({name for name in modules if modules.count(name) > 1}):
        raise ToolConfigError(f"[[toolsets]]: module {', '.join(duplicates)} is listed twice")
    return entries


def add_import_paths(entries: list[ToolsetEntry]) -> None:
    """Put each entry's directory first on the import path (once)."""
    for entry in entries:
        if entry.path is not None and str(entry.path) not in sys.path:
            sys.path.insert(0, str(entry.path))


def load_toolsets(entries: list[ToolsetEntry]) -> list[Toolset]:
    """Import each entry's module and collect its toplevel `Toolset`s (call `add_import_paths` first).

    Raises:
        ToolConfigError: a module fails to import (its error, named), defines no toolset, or two
            toolsets share a name.
    """
    toolsets: dict[str, Toolset] = {}
    for entry in entries:
        where = f"[[toolsets]] {entry.module}"
        try:
            module = importlib.import_module(entry.module)
        except Exception as exc:
            # The operator's own import error, at start-up: its type and message are what they need.
            raise ToolConfigError(f"{where}: cannot import the module: {type(exc).__name__}: {exc}") from exc
        found = [value for value in vars(module).values() if isinstance(value, Toolset)]
        if not found:
            raise ToolConfigError(f"{where}: the module defines no Toolset at its top level")
        for toolset in found:
            if toolset.name in toolsets and toolsets[toolset.name] is not toolset:
                raise ToolConfigError(f"{where}: a toolset named {toolset.name!r} is defined twice")
            if not toolset.tools:
                raise ToolConfigError(f"{where}: toolset {toolset.name!r} has no tools")
            toolsets[toolset.name] = toolset
    return list(toolsets.values())
