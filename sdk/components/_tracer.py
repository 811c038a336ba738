"""Tracer: run a Python script as ``__main__`` with chosen methods of chosen classes wrapped while it runs.

A ``pre_fn(instance, *args, **kwargs)`` returns ``(trace, args, kwargs)``: what to record, and the arguments the
method then gets; a ``post_fn(instance, result)`` returns ``(trace, result)``. The classes get their own methods
back when the script ends, however it ends. This is how a training script's ``Trainer(...)`` is given the node's
``num_nodes`` without changing the script.
"""

from __future__ import annotations

import functools
import runpy
import sys
from pathlib import Path
from typing import Any, Callable

PreFn = Callable[..., tuple[Any, tuple, dict]]
PostFn = Callable[[Any, Any], tuple[Any, Any]]


class Tracer:
    """Wraps methods of classes while a script (or any callable) runs, and records what the hooks return."""

    def __init__(self) -> None:
        self.methods: list[tuple[type, str, PreFn | None, PostFn | None]] = []
        self.res: dict[str, list[dict[str, Any]]] = {}
        """Per class name, one entry per traced call: ``{"method", "pre", "post"}``."""
        self._originals: list[tuple[type, str, Any]] = []
        """(class, method name, the class's own attribute or None when the method was inherited)."""

    def add_traced(self, cls: type, method_name: str, stack_level: int = 1, pre_fn: PreFn | None = None,
                   post_fn: PostFn | None = None) -> None:
        """Wrap ``cls.method_name`` while the script runs (``stack_level`` is accepted for compatibility)."""
        self.methods.append((cls, method_name, pre_fn, post_fn))

    def _instrument(self) -> None:
        self.res = {}
        for cls, method_name, pre_fn, post_fn in self.methods:
            own = cls.__dict__.get(method_name)
            self._originals.append((cls, method_name, own))
            original = own if own is not None else getattr(cls, method_name)
            setattr(cls, method_name, self._wrap(cls, method_name, original, pre_fn, post_fn))

    def _wrap(self, cls: type, method_name: str, original: Any, pre_fn: PreFn | None,
              post_fn: PostFn | None) -> Any:
        is_classmethod = isinstance(original, classmethod)
        function = original.__func__ if isinstance(original, (classmethod, staticmethod)) else original
        records = self.res.setdefault(cls.__qualname__, [])

        @functools.wraps(function)
        def traced(first: Any, *args: Any, **kwargs: Any) -> Any:
            entry: dict[str, Any] = {"method": method_name}
            if pre_fn is not None:
                entry["pre"], args, kwargs = pre_fn(first, *args, **kwargs)
            result = function(first, *args, **kwargs)
            if post_fn is not None:
                entry["post"], result = post_fn(first, result)
            records.append(entry)
            return result

        return classmethod(traced) if is_classmethod else traced

    def _restore(self) -> None:
        while self._originals:
            cls, method_name, own = self._originals.pop()
            if own is None:
                delattr(cls, method_name)
            else:
                setattr(cls, method_name, own)

    def trace(self, *args: Any, init_globals: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the script ``args[0]`` with arguments ``args[1:]`` as ``__main__``; its globals once it ended.

        ``sys.argv`` and ``sys.path`` (the script's folder is added, as Python does) are put back afterwards.
        The globals carry ``tracer_res``: what the hooks recorded.
        """
        script, *script_args = (str(a) for a in args)
        saved_argv, saved_path = sys.argv[:], sys.path[:]
        sys.argv = [script, *script_args]
        sys.path.insert(0, str(Path(script).resolve().parent))
        self._instrument()
        try:
            result = runpy.run_path(script, init_globals=init_globals, run_name="__main__")
        finally:
            self._restore()
            sys.argv, sys.path[:] = saved_argv, saved_path
        result["tracer_res"] = self.res
        return result

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``function(*args, **kwargs)`` with the methods wrapped; what it returns."""
        self._instrument()
        try:
            return function(*args, **kwargs)
        finally:
            self._restore()
