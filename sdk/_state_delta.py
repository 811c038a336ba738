"""Changes to a JSON state tree as ``(path, value)`` pairs, and their DeepDiff spelling.

A path is a tuple of dict keys and list indexes from the root; a change sets the value at its path, or removes it
when the value is :data:`REMOVED`. Lists are compared whole (a changed list is one change), so applying changes
never depends on positions that moved. The former framework's UIs sent DeepDiff dicts (``verbose_level=2``) to
``/api/v1/delta``; :func:`from_deepdiff` reads them and :func:`to_deepdiff` writes them, with paths such as
``root['vars']['counter']`` or ``root['vars']['items'][2]``.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Iterator

from lightning_ctl.sdk.errors import DeltaError

Path = tuple[Any, ...]


class _Removed:
    def __repr__(self) -> str:
        return "REMOVED"


REMOVED: Any = _Removed()
"""The value of a change that removes the key at its path."""

_STEP = re.compile(r"\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?\d+)\]")
_SETTING_KINDS = ("values_changed", "type_changes")
_ADDING_KINDS = ("dictionary_item_added", "iterable_item_added", "attribute_added")
_REMOVING_KINDS = ("dictionary_item_removed", "iterable_item_removed", "attribute_removed")


def diff(old: Any, new: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """The changes that turn ``old`` into ``new`` (dicts compared key by key, anything else as a whole).

    Equal dicts are skipped without walking them (C speed: most of a big state does not change); inside them,
    Python's equality does not tell ``1`` from ``True`` or ``1.0``, a change no UI makes.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        if old == new:
            return
        for key, value in new.items():
            if key not in old:
                yield (*path, key), value
            else:
                yield from diff(old[key], value, (*path, key))
        for key in old:
            if key not in new:
                yield (*path, key), REMOVED
    elif old != new or type(old) is not type(new):
        yield path, new


def apply(tree: Any, path: Path, value: Any) -> None:
    """Set (or with :data:`REMOVED`, remove) the value at ``path`` inside ``tree``, in place.

    Raises:
        DeltaError: a step of the path is missing or is not a container.
    """
    if not path:
        raise DeltaError("a change must name a path below the root")
    parent = tree
    for depth, step in enumerate(path[:-1]):
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            raise DeltaError(f"{format_path(path[: depth + 1])} does not exist") from None
    last = path[-1]
    try:
        if value is REMOVED:
            del parent[last]
        elif isinstance(parent, list) and last == len(parent):
            parent.append(value)
        else:
            parent[last] = value
    except (KeyError, IndexError, TypeError):
        raise DeltaError(f"{format_path(path)} cannot be set") from None


def format_path(path: Path) -> str:
    """``('vars', 'x', 0)`` as ``root['vars']['x'][0]``."""
    return "root" + "".join(f"[{step!r}]" for step in path)


def parse_path(text: str) -> Path:
    """``root['vars']['x'][0]`` as ``('vars', 'x', 0)``.

    Raises:
        DeltaError: not a path of that form.
    """
    if not isinstance(text, str) or not text.startswith("root"):
        raise DeltaError(f"{text!r} is not a path such as root['vars']['name']")
    steps, position = [], 4
    for match in _STEP.finditer(text, 4):
        if match.start() != position:
            break
        steps.append(ast.literal_eval(match.group(1)))
        position = match.end()
    if position != len(text):
        raise DeltaError(f"{text!r} is not a path such as root['vars']['name']")
    return tuple(steps)


def from_deepdiff(delta: Any) -> list[tuple[Path, Any]]:
    """The changes a DeepDiff dict (``verbose_level=2``, as JSON) describes.

    Raises:
        DeltaError: it is not such a dict, or holds a kind of change that cannot be applied.
    """
    if not isinstance(delta, dict):
        raise DeltaError("a delta is a JSON object such as {\"values_changed\": {\"root['vars']['x']\": {...}}}")
    changes: list[tuple[Path, Any]] = []
    for kind, entries in delta.items():
        if not isinstance(entries, dict):
            raise DeltaError(f"delta[{kind!r}] must map paths to values")
        for text, entry in entries.items():
            path = parse_path(text)
            if kind in _SETTING_KINDS:
                if not isinstance(entry, dict) or "new_value" not in entry:
                    raise DeltaError(f"delta[{kind!r}][{text!r}] has no new_value")
                changes.append((path, entry["new_value"]))
            elif kind in _ADDING_KINDS:
                changes.append((path, entry))
            elif kind in _REMOVING_KINDS:
                changes.append((path, REMOVED))
            else:
                raise DeltaError(f"delta kind {kind!r} is not supported (use values_changed, *_added, *_removed)")
    # Removals from one list go from the highest index down, so earlier ones do not shift later ones.
    return sorted(changes, key=lambda c: (c[1] is REMOVED, _index_key(c[0]) if c[1] is REMOVED else 0))


def _index_key(path: Path) -> int:
    return -path[-1] if path and isinstance(path[-1], int) else 0


def to_deepdiff(changes: list[tuple[Path, Any]]) -> dict[str, dict[str, Any]]:
    """``changes`` as a DeepDiff-style dict (what ``/api/v1/delta`` takes)."""
    out: dict[str, dict[str, Any]] = {}
    for path, value in changes:
        text = format_path(path)
        if value is REMOVED:
            out.setdefault("dictionary_item_removed", {})[text] = None
        else:
            out.setdefault("values_changed", {})[text] = {"new_value": value}
    return out
