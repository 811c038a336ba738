"""Call hashing: decides whether two calls of a work's ``run`` are "the same call".

The control plane keys a work's call ledger by this hash, so it must be stable across processes,
machines and Python versions: it never uses the built-in ``hash()`` (randomized per process), and
every value is encoded with its type, so values that Python treats as equal but a user would not
(``1``, ``1.0``, ``True``) stay distinct.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

__all__ = ["CALL_HASH_LENGTH", "START_CALL_HASH", "call_hash"]

CALL_HASH_LENGTH = 16
"""Number of hex characters in a call hash."""

START_CALL_HASH = "start"
"""Call hash of the implicit "start" action that starts a work before its first call.

It is not hexadecimal, so it can never collide with the hash of a real ``run()`` call.
"""


def call_hash(args: tuple, kwargs: dict) -> str:
    """Return the hash identifying a call ``run(*args, **kwargs)``.

    Two calls get the same hash exactly when their arguments are equal *and* of the same types:

    - ``1``, ``1.0``, ``True`` and ``"1"`` all differ; so do ``[1, 2]`` and ``(1, 2)``, ``b"a"`` and ``"a"``.
    - Dict key order, keyword order and set order do not matter.
    - ``run(1)`` and ``run(x=1)`` differ.
    - An object with a ``to_dict()`` method (a ``Path``, ``Payload``, ``CloudCompute``...) is hashed
      as the dict it returns.

    Args:
        args: Positional arguments of the call (without ``self``).
        kwargs: Keyword arguments of the call.

    Returns:
        ``CALL_HASH_LENGTH`` (16) lowercase hex characters: the start of the SHA-256 of a canonical,
        type-tagged encoding of the arguments.

    Raises:
        TypeError: An argument, or a value nested in one, is not JSON-like (None, bool, int, float,
            str, bytes, bytearray, list, tuple, dict, set, frozenset) and has no ``to_dict()`` method.
        ValueError: The arguments contain a reference cycle.
    """
    if not args and not kwargs:
        return _NO_ARGUMENTS_HASH  # run(): the most common call, hashed once
    return _hash_of(args, kwargs)


def _hash_of(args: tuple, kwargs: dict) -> str:
    encoded = ["call", _encode(tuple(args), set()), _encode(dict(kwargs), set())]
    canonical = json.dumps(encoded, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:CALL_HASH_LENGTH]


def _encode(value: Any, active: set[int]) -> Any:
    """Turn ``value`` into a JSON tree tagged with each value's type.

    ``active`` holds the ids of the containers being encoded on the current path, to turn a cycle
    into a clear error rather than a RecursionError.
    """
    if value is None:
        return ["none"]
    # bool before int: True is an int to isinstance.
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        # As a string so that huge ints survive any JSON reader unchanged.
        return ["int", str(int(value))]
    if isinstance(value, float):
        # repr round-trips and spells nan/inf, which JSON numbers cannot.
        return ["float", repr(float(value))]
    if isinstance(value, str):
        return ["str", str(value)]
    if isinstance(value, (bytes, bytearray)):
        return ["bytes" if isinstance(value, bytes) else "bytearray", bytes(value).hex()]

    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return _encode_container(value, active, lambda: _encode(to_dict(), active))

    if isinstance(value, (list, tuple)):
        tag = "list" if isinstance(value, list) else "tuple"
        return _encode_container(value, active, lambda: [tag, [_encode(item, active) for item in value]])
    if isinstance(value, dict):
        return _encode_container(value, active, lambda: ["dict", _sorted_entries(value, active)])
    if isinstance(value, (set, frozenset)):
        tag = "set" if isinstance(value, set) else "frozenset"
        return _encode_container(value, active, lambda: [tag, _sorted_items(value, active)])

    raise TypeError(f"call arguments must be JSON values, bytes, tuples or sets (or a Path, Payload or Drive); got a "
                    f"{type(value).__module__}.{type(value).__qualname__}: convert it (e.g. array.tolist()), or hand it "
                    "over as a file (a Path) or through a work's Payload attribute")


def _encode_container(value: Any, active: set[int], encode: Callable[[], Any]) -> Any:
    key = id(value)
    if key in active:
        raise ValueError(
            f"call arguments must not contain reference cycles; a {type(value).__qualname__} contains itself"
        )
    active.add(key)
    try:
        return encode()
    finally:
        active.discard(key)


def _canonical(tree: Any) -> str:
    return json.dumps(tree, ensure_ascii=True, separators=(",", ":"))


def _sorted_entries(mapping: dict, active: set[int]) -> list:
    entries = [[_encode(key, active), _encode(item, active)] for key, item in mapping.items()]
    entries.sort(key=lambda entry: _canonical(entry[0]))
    return entries


def _sorted_items(items: set | frozenset, active: set[int]) -> list:
    encoded = [_encode(item, active) for item in items]
    encoded.sort(key=_canonical)
    return encoded


_NO_ARGUMENTS_HASH = _hash_of((), {})
