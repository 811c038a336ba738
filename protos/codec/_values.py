"""JSON values inside protobuf envelopes, and the error every decoder raises."""

from __future__ import annotations

import json
import math
from typing import Any

from lightning_ctl.sdk.errors import LightningError


class CodecError(LightningError, ValueError):
    """A message could not be decoded; the message names the field at fault (and the work, when there is one)."""


def dumps(value: Any) -> str:
    """Encode a JSON value the way every value travels (NaN allowed, as state allows it)."""
    return json.dumps(value, allow_nan=True, separators=(",", ":"))


_JSON_KIND: dict[type, str] = {dict: "object", list: "array"}


def loads(text: str, field_name: str, default: Any) -> Any:
    """Decode the JSON in ``field_name``; ``default`` when empty (and its type is the one required, if not None)."""
    if not text:
        return default
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"{field_name}: invalid JSON ({_short(exc)})") from None
    if default is not None and not isinstance(value, type(default)):
        raise CodecError(f"{field_name}: expected a JSON {_JSON_KIND[type(default)]}, got {type(value).__name__}")
    return value


def _short(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def check_count(value: int, field_name: str, minimum: int = 0) -> int:
    """``value`` if it is at least ``minimum``; a CodecError naming the field otherwise."""
    if value < minimum:
        raise CodecError(f"{field_name}: must be >= {minimum}, got {value}")
    return value


def check_number(value: float, field_name: str, minimum: float = 0.0) -> float:
    """``value`` if it is finite and at least ``minimum``; a CodecError naming the field otherwise."""
    if not math.isfinite(value) or value < minimum:
        raise CodecError(f"{field_name}: must be a finite number >= {minimum:g}, got {value!r}")
    return value


def check_text(value: str, field_name: str, max_chars: int, required: bool = False) -> str:
    """``value`` if it is short enough (and present when ``required``); a CodecError naming the field otherwise."""
    if required and not value:
        raise CodecError(f"{field_name}: missing")
    if len(value) > max_chars:
        raise CodecError(f"{field_name}: {len(value)} characters, over the limit of {max_chars}")
    return value
