"""A work's ``run()`` arguments on their way to its process: JSON, plus the Python values JSON cannot spell.

The former framework pickled call arguments. lightning-ctl sends JSON (nothing is unpickled on arrival), and keeps
the simple values a ``run()`` commonly takes exactly as they were, each as a tagged object:

    bytes          {"type": "__bytes__", "base64": "..."}         (bytearray: "__bytearray__")
    tuple          {"type": "__tuple__", "items": [...]}          (set: "__set__", frozenset: "__frozenset__")
    dict           {"type": "__dict__", "items": [[key, value], ...]}  when a key is not a str (``{1: "a"}``), or
                   when the dict itself looks like a tag (has a "type" spelled ``__...__``)

Paths, Payloads and Drives travel as their own tagged dicts (``__json__``). Anything else (a numpy array, a model,
a datetime) is refused in the flow, naming the work, the argument and its type.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

from lightning_ctl.sdk._storage_values import decode_value

__all__ = ["decode_arguments", "encode_arguments"]

_TYPE = "type"
_ITEMS = "items"
_BASE64 = "base64"
_BYTES = "__bytes__"
_BYTEARRAY = "__bytearray__"
_DICT = "__dict__"
_COLLECTIONS: dict[type[Iterable[Any]], str] = {tuple: "__tuple__", set: "__set__", frozenset: "__frozenset__"}
_REBUILD: dict[str, Callable[[Iterable[Any]], Any]] = {
    "__tuple__": tuple,
    "__set__": set,
    "__frozenset__": frozenset,
}
WHAT_CROSSES = ("JSON values (None, bool, int, float, str, list, dict), bytes, bytearray, tuple, set, frozenset, "
                "and Path, Payload or Drive")
"""What a call argument may be, for error messages."""


def encode_arguments(work_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """``(args, kwargs)`` as plain JSON-ready values (a copy: the flow may change its own objects afterwards).

    Raises:
        TypeError: an argument holds a value that cannot cross; the message names the work, the argument and the
            value's type.
    """
    encoded_args = [_encode(value, work_name, f"argument {index + 1}") for index, value in enumerate(args)]
    encoded_kwargs = {str(key): _encode(value, work_name, f"argument {key}") for key, value in kwargs.items()}
    return encoded_args, encoded_kwargs


_SCALARS = frozenset({type(None), bool, int, float, str})


def _encode(value: Any, work_name: str, where: str) -> Any:
    if type(value) in _SCALARS or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        if all(type(item) in _SCALARS for item in value):
            return list(value)  # the common large argument (a list of numbers or names), without a call per item
        return [_encode(item, work_name, where) for item in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value) and not _looks_like_a_tag(value):
            return {key: _encode(item, work_name, where) for key, item in value.items()}
        return {_TYPE: _DICT, _ITEMS: [[_encode(key, work_name, where), _encode(item, work_name, where)]
                                       for key, item in value.items()]}
    if isinstance(value, (bytes, bytearray)):
        tag = _BYTES if isinstance(value, bytes) else _BYTEARRAY
        return {_TYPE: tag, _BASE64: base64.b64encode(value).decode("ascii")}
    for kind, tag in _COLLECTIONS.items():
        if isinstance(value, kind):
            return {_TYPE: tag, _ITEMS: [_encode(item, work_name, where) for item in value]}
    as_json = getattr(value, "__json__", None)
    if callable(as_json) and not isinstance(value, type):
        return as_json()  # a Path, Payload or Drive: its own tagged dict
    raise TypeError(
        f"{work_name}.run(...): {where} is a {type(value).__module__}.{type(value).__qualname__}, which cannot cross "
        f"to the work's process (call arguments travel as JSON, never pickled). A call may pass {WHAT_CROSSES}: "
        "convert it (e.g. array.tolist()), or hand it over as a file (a Path) or through a work's Payload attribute"
    )


def _looks_like_a_tag(value: dict[str, Any]) -> bool:
    tag = value.get(_TYPE)
    return isinstance(tag, str) and tag.startswith("__") and tag.endswith("__")


def decode_arguments(value: Any) -> Any:
    """Call arguments as they were sent: tagged values made Python values again.

    The tags stand for bytes, bytearrays, tuples, sets, frozensets, dicts with keys other than strings, and Path,
    Payload and Drive objects.
    """
    if isinstance(value, list):
        return [decode_arguments(item) for item in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TYPE)
    if tag in (_BYTES, _BYTEARRAY) and isinstance(value.get(_BASE64), str):
        raw = base64.b64decode(value[_BASE64])
        return raw if tag == _BYTES else bytearray(raw)
    if tag in _REBUILD and isinstance(value.get(_ITEMS), list):
        return _REBUILD[tag](decode_arguments(item) for item in value[_ITEMS])
    if tag == _DICT and isinstance(value.get(_ITEMS), list):
        return {decode_arguments(key): decode_arguments(item) for key, item in value[_ITEMS]}
    decoded = decode_value(value)
    if decoded is not value:
        return decoded
    return {key: decode_arguments(item) for key, item in value.items()}
