"""Patching a module of ours as it is first imported, from a test-only ``sitecustomize`` in a process a test starts.

    patch_on_import("lightning_ctl.controlplane.flows.checkpoint", lambda module: ...)

Installs an import hook that runs the module as usual, then hands it to the patch function. Used by fault
injection and benchmark instrumentation, never by the product.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any, Callable


def patch_on_import(name: str, patch: Callable[[ModuleType], None]) -> None:
    """Call ``patch(module)`` right after module ``name`` is first imported in this process."""
    sys.meta_path.insert(0, _Finder(name, patch))


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, patch: Callable[[ModuleType], None]) -> None:
        self._name = name
        self._patch = patch

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != self._name:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            self._patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
