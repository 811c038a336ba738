"""pretty_state: the human-facing view of an app's state tree, with internals removed."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["pretty_state"]


def pretty_state(state: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a component's state with only what a person wants to read.

    Keeps the ``vars`` whose names don't start with ``_`` and recurses into ``flows`` and
    ``works``. Drops ``calls``, ``changes``, ``structures`` and ``app_state``. A key is only
    created when it has content, so a work with no public vars becomes ``{}`` and a flow without
    children has no ``flows`` or ``works`` key.

    Args:
        state: A component's (or the app's) state dict: ``{"vars", "calls", "flows", "works",
            "structures", "changes"}``; missing keys are treated as empty.

    Returns:
        A new dict; values are deep copies, so changing it leaves ``state`` untouched.
    """
    pretty: dict[str, Any] = {}
    public_vars = {
        name: copy.deepcopy(value)
        for name, value in state.get("vars", {}).items()
        if not name.startswith("_")
    }
    if public_vars:
        pretty["vars"] = public_vars
    for kind in ("flows", "works"):
        children = {name: pretty_state(child) for name, child in state.get(kind, {}).items()}
        if children:
            pretty[kind] = children
    return pretty
