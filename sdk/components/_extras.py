"""Checking that a component's optional libraries are installed, with an error naming the extra to install."""

from __future__ import annotations

import importlib.util


def require(component: str, extra: str, *modules: str) -> None:
    """Fail unless every one of ``modules`` can be imported.

    Raises:
        ModuleNotFoundError: naming the component, the missing modules and ``pip install 'lightning-ctl[extra]'``.
    """
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ModuleNotFoundError(
            f"{component} needs {' and '.join(missing)}, which is not installed: pip install 'lightning-ctl[{extra}]'",
            name=missing[0],
        )
