"""Test-only: gives tool servers a `hostile_probe` tool that runs the escape corpus from inside.

Only the corpus tests put this folder on `PYTHONPATH` (which launchers pass on to tool servers and
the fork template), so the interpreter imports it at start: no production code knows about it. It
waits for `chatgate.mcp_server.tools` to be imported and wraps its `register_all`, so every server
built afterwards, in the exec child or in the fork template, also registers the probe. The probe
runs in the bound tool server, after containment, exactly where a buggy tool would.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

_TARGET = "chatgate.mcp_server.tools"


class _WrapRegisterAll(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        original_exec = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            register_all = module.register_all

            def with_probe(server: Any, *args: Any, **kwargs: Any) -> None:
                register_all(server, *args, **kwargs)
                from chatgate_hostile_probe import register

                register(server)

            module.register_all = with_probe

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _WrapRegisterAll())
