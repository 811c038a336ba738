"""Size parsing: turns "4Gi", "512MB" or 1024 into a number of bytes.

Shared by ``CloudCompute`` (memory requests) and the agent CLI (memory limits).
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["parse_size"]

_SIZE_RE = re.compile(
    r"^(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?:(?P<prefix>[kmgt])(?P<binary>i)?)?b?$",
    re.IGNORECASE,
)
_EXPONENTS = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(value: str | int) -> int:
    """Return the number of bytes that ``value`` stands for.

    A suffix ``K``, ``M``, ``G`` or ``T`` is decimal (powers of 1000); followed by ``i`` it is
    binary (powers of 1024). A trailing ``B`` is allowed and the case does not matter, so
    ``"512MB"`` is 512,000,000 bytes and ``"4Gi"`` or ``"4GiB"`` is 4,294,967,296 bytes.
    A bare number is bytes. Fractions are allowed (``"1.5Gi"``) and rounded down to whole bytes.

    Args:
        value: A non-negative number of bytes, or a size string.

    Returns:
        The size in bytes.

    Raises:
        ValueError: ``value`` is negative or not a size string.
        TypeError: ``value`` is neither an int nor a string.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"a size must be an int or a string such as '4Gi'; got {type(value).__qualname__}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid size {value!r}: must not be negative")
        return value

    match = _SIZE_RE.match(value.strip())
    if match is None:
        raise ValueError(
            f"invalid size {value!r}: expected a number of bytes with an optional unit"
            " K, M, G or T (powers of 1000) or Ki, Mi, Gi or Ti (powers of 1024), e.g. '4Gi' or '512MB'"
        )
    number = Decimal(match["number"])
    prefix = match["prefix"]
    if prefix is None:
        return int(number)
    base = 1024 if match["binary"] else 1000
    return int(number * base ** _EXPONENTS[prefix.lower()])
