"""Cron helpers behind ``LightningFlow.schedule``: normalizing patterns and finding the next firing.

Patterns are croniter expressions: 5 fields (minute hour day-of-month month day-of-week), an
optional 6th field for **seconds** (``"* * * * * */2"`` fires on even seconds) and an optional 7th
for the year, or an alias such as ``"hourly"``/``"@hourly"``. Like cron, patterns are read in the
machine's local time zone. croniter is imported inside the functions so ``import sdk`` stays fast.
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["ALIASES", "next_fire_time", "normalize_cron"]

ALIASES: dict[str, str] = {
    alias: f"@{alias}" for alias in ("midnight", "hourly", "daily", "weekly", "monthly", "yearly", "annually")
}
"""Bare alias names accepted by ``schedule()``, mapped to the croniter alias they stand for."""


def normalize_cron(pattern: str) -> str:
    """Return ``pattern`` in the form croniter reads, after checking that it is valid.

    Args:
        pattern: A cron expression of 5 to 7 fields, or an alias with or without ``@``
            (``"daily"``, ``"@daily"``).

    Returns:
        The expression with surrounding blanks removed and bare aliases turned into ``@alias``.

    Raises:
        ValueError: ``pattern`` is not a valid cron expression.
        TypeError: ``pattern`` is not a string.
    """
    from croniter import croniter

    if not isinstance(pattern, str):
        raise TypeError(f"a cron pattern must be a string; got {type(pattern).__qualname__}")
    normalized = pattern.strip()
    normalized = ALIASES.get(normalized.lower(), normalized)
    if not croniter.is_valid(normalized):
        aliases = ", ".join(ALIASES)
        raise ValueError(
            f"invalid cron expression {pattern!r}: expected 5 fields (minute hour day-of-month month"
            f" day-of-week), optionally a 6th for seconds and a 7th for the year, or one of: {aliases}"
        )
    return normalized


def next_fire_time(pattern: str, after: float) -> float:
    """Return when ``pattern`` next fires, strictly after ``after``.

    Fields are matched against local wall-clock time, as cron does, so ``"0 9 * * *"`` fires at
    09:00 local time on both sides of a daylight-saving change.

    Args:
        pattern: A cron expression or alias, as accepted by :func:`normalize_cron`.
        after: Epoch seconds.

    Returns:
        The next firing time in epoch seconds.

    Raises:
        ValueError: ``pattern`` is not a valid cron expression.
    """
    from croniter import croniter

    expression = normalize_cron(pattern)
    # Naive local datetimes keep wall-clock semantics across DST changes; a fixed UTC offset would
    # drift by an hour after the next change.
    local_after = datetime.fromtimestamp(after)
    fire_time = croniter(expression, local_after).get_next(datetime).timestamp()
    if fire_time > after:
        return fire_time
    # Only in the hour repeated when clocks go back: naive times map to its first pass, so
    # resolve in the offset in force at `after`, which is exact within that hour.
    aware_after = datetime.fromtimestamp(after).astimezone()
    return croniter(expression, aware_after).get_next(datetime).timestamp()
