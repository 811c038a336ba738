"""Work names as operators type them: a full name (``root.trainer``) or any unambiguous dotted suffix of it.

``w`` matches ``root.w`` and ``root.a.w``; ``a.w`` matches only the second. A full name always means that work,
even when it is also a suffix of another one. Every command that takes a WORK resolves it here.
"""

from __future__ import annotations

from typing import Iterable

from lightning_ctl.controlplane.errors import WorkNameError

_LISTED = 10
"""At most this many names are listed in an error."""


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f", ... ({len(names) - _LISTED} more)" if len(names) > _LISTED else "")


def matches(pattern: str, work_name: str) -> bool:
    """Whether ``pattern`` is ``work_name`` or a dotted suffix of it."""
    return work_name == pattern or work_name.endswith("." + pattern)


def resolve_work_name(pattern: str, known: Iterable[str]) -> str:
    """The one work ``pattern`` names among ``known``.

    Raises:
        WorkNameError: no work matches, or several do (the message lists them).
    """
    names = sorted(set(known))
    if pattern in names:
        return pattern
    found = [name for name in names if matches(pattern, name)]
    if len(found) == 1:
        return found[0]
    if found:
        raise WorkNameError(
            f"work name {pattern!r} is ambiguous: it matches {_listing(found)}",
            pattern=pattern,
            candidates=tuple(found),
        )
    detail = f"the works are {_listing(names)}" if names else "the app has no works"
    raise WorkNameError(f"no work is named {pattern!r} ({detail})", pattern=pattern)


def resolve_work_names(patterns: Iterable[str], known: Iterable[str]) -> list[str]:
    """The works ``patterns`` name, in the order given, each once.

    Raises:
        WorkNameError: for the first pattern that names no work, or several.
    """
    known = list(known)
    resolved: list[str] = []
    for pattern in patterns:
        name = resolve_work_name(pattern, known)
        if name not in resolved:
            resolved.append(name)
    return resolved
