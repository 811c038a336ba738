"""Snapshots of state values: telling whether a value changed since it was last seen, without encoding it.

A snapshot copies a value's containers (lists, dicts, tuples) and shares its leaves (strings, numbers: immutable),
so it costs a walk of the structure, not an encoding; comparing a value with its snapshot is Python's own deep
``==``, which skips every leaf still identical to the one seen. An unchanged 50 MB string is one identity check;
an unchanged list of 100k strings, 100k of them. Values that are not plain JSON containers (a ``Path``, a
``CloudCompute``: objects with ``__json__`` or ``to_dict``) are kept as their JSON text and compared by encoding.

    snap = snapshot(value)       ... value mutated in place, or replaced ...       same(value, snap) -> bool

Equality is JSON's, with one exception Python's ``==`` imposes inside containers: numbers of different types but
equal values (``1``, ``1.0``, ``True``) compare equal there (at the top level the types must match).
"""

from __future__ import annotations

import math
from typing import Any

from lightning_ctl.sdk._component import to_json

_LEAVES = (str, int, float, bool, type(None))


class _Encoded:
    """The JSON text of a value that is not a plain container; equal to any value with the same encoding."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Encoded):
            return other.text == self.text
        try:
            return to_json(other) == self.text
        except (TypeError, ValueError):
            return False

    __hash__ = None  # type: ignore[assignment]


def snapshot(value: Any) -> Any:
    """A copy of ``value`` that later changes to ``value`` (in place or not) do not reach."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is list:
        return [snapshot(item) for item in value]
    if kind is dict:
        return {key: snapshot(item) for key, item in value.items()}
    if kind is tuple:
        return tuple(snapshot(item) for item in value)
    return _Encoded(to_json(value))


def same(value: Any, snap: Any) -> bool:
    """Whether ``value`` is still what ``snap`` (made by :func:`snapshot`) recorded."""
    if value is snap:
        return True
    if type(snap) is _Encoded:
        return snap == value
    if type(value) is not type(snap):
        return False
    if type(value) is float and math.isnan(value):
        return math.isnan(snap)
    try:
        return bool(value == snap)
    except RecursionError:
        return False
