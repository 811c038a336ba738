"""Which of a work's attribute values the flow already has, and sending the ones it does not.

Assignments are reported as they happen (``note``); in-place mutations such as ``list.append`` are caught by a
periodic ``sweep``. Each change is sent as the attribute's whole new value (JSON, one entry per attribute), so
applying it is idempotent and order is all that matters (unlike positional list diffs).

A value whose JSON is larger than the app's limit never leaves: the assignment raises
:class:`~lightning_ctl.sdk.errors.AttributeTooLargeError` naming the attribute and the limit, and the attribute
keeps the value the flow has. Large values cost little while they do not change: an unchanged immutable value
(a string, a number) is not encoded again, and a large container is looked at no more than its encoding allows
(a tenth of the time), so a 50 MB attribute does not keep the work's CPU busy.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

from lightning_ctl.protos.limits import DEFAULT_MAX_ATTRIBUTE_BYTES
from lightning_ctl.sdk._component import to_json
from lightning_ctl.sdk._storage_values import received_value
from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.errors import AttributeTooLargeError

_IMMUTABLE = (str, int, float, bool, type(None))
_SWEEP_SHARE = 0.1
"""The largest share of the work's time that sweeping one large container may take."""
_CHEAP_ENCODE_S = 0.001
"""Values that encode faster than this are looked at on every sweep."""


class VarsTracker:
    """Remembers the JSON of each state attribute as last sent to (or received from) the flow."""

    def __init__(
        self,
        work: LightningWork,
        send_values: Callable[..., None],
        max_value_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES,
    ) -> None:
        self._work = work
        self._send = send_values
        self.max_value_bytes = max_value_bytes
        self._known: dict[str, str] = {}
        self._seen: dict[str, Any] = {}
        """The object each attribute held when last encoded (an immutable one identical to it is unchanged)."""
        self._next_look: dict[str, float] = {}
        """When a costly container may be encoded again by a periodic sweep (monotonic seconds)."""
        # Re-entrant: the SIGTERM handler runs on the main thread and may interrupt a note() holding the lock.
        self._lock = threading.RLock()

    def absorb(self, values: dict[str, Any], echo: bool = False, command_seq: int = 0) -> None:
        """Apply the flow's values to the work.

        With ``echo``, the values are sent back as the work's own change: if the work assigned one of them while
        the flow's update was in flight, the flow would otherwise keep the work's older value while the work holds
        the flow's. Echoing makes the work's stream the one order both sides converge to; the echo of an update
        carries its ``command_seq`` (the control plane's confirmation that the update arrived).
        """
        if not values:
            return
        with self._lock:
            encoded = {name: to_json(value) for name, value in values.items()}
            for name, value in values.items():
                self._work.__dict__[name] = received_value(self._work, value)
                self._work._state_names().add(name)
                self._remember(name, value, encoded[name])
            if echo:
                self._send(encoded, command_seq)

    def note(self, name: str, value: Any) -> None:
        """The work assigned ``name``: send it if the flow's copy differs.

        Raises:
            AttributeTooLargeError: the value's JSON passes the limit (the attribute is put back as it was).
        """
        encoded = to_json(value)
        with self._lock:
            if self._known.get(name) == encoded:
                self._seen[name] = value
                return
            if len(encoded) > self.max_value_bytes:
                self._put_back(name)
                raise self._too_large(name, len(encoded))
            self._remember(name, value, encoded)
            self._send({name: encoded})

    def sweep(self, strict: bool = False) -> None:
        """Send every state attribute whose value changed without an assignment (in-place mutation).

        Periodic sweeps skip large containers looked at a moment ago, and values past the limit (they stay
        unsent). A ``strict`` sweep (the end of a call) looks at everything, and raises for a value past the limit.

        Raises:
            AttributeTooLargeError: with ``strict``, an attribute grew past the limit in place.
        """
        changed: dict[str, str] = {}
        too_large: tuple[str, int] | None = None
        now = time.monotonic()
        with self._lock:
            for name in list(self._work._state_names()):
                if name == "_cloud_compute":
                    continue
                value = self._work.__dict__.get(name)
                if isinstance(value, _IMMUTABLE) and self._seen.get(name, _MISSING) is value:
                    continue
                if not strict and self._next_look.get(name, 0.0) > now:
                    continue
                started = time.perf_counter()
                try:
                    encoded = to_json(value)
                except (TypeError, ValueError, RuntimeError):
                    continue  # mutated while being encoded, or not JSON any more: the next sweep sees it
                self._pace(name, time.perf_counter() - started, now)
                if self._known.get(name) == encoded:
                    self._seen[name] = value
                    continue
                if len(encoded) > self.max_value_bytes:
                    too_large = too_large or (name, len(encoded))
                    continue
                self._remember(name, value, encoded)
                changed[name] = encoded
            for part in self._within_limit(changed):
                self._send(part)
        if strict and too_large is not None:
            raise self._too_large(*too_large)

    def _remember(self, name: str, value: Any, encoded: str) -> None:
        self._known[name] = encoded
        self._seen[name] = value

    def _pace(self, name: str, cost_s: float, now: float) -> None:
        if cost_s > _CHEAP_ENCODE_S:
            self._next_look[name] = now + cost_s / _SWEEP_SHARE
        else:
            self._next_look.pop(name, None)

    def _within_limit(self, changed: dict[str, str]) -> list[dict[str, str]]:
        """``changed`` split so that no delta carries more than the limit in values."""
        parts: list[dict[str, str]] = []
        size = 0
        for name, encoded in changed.items():
            if not parts or size + len(encoded) > self.max_value_bytes:
                parts.append({})
                size = 0
            parts[-1][name] = encoded
            size += len(encoded)
        return parts

    def _put_back(self, name: str) -> None:
        """Give ``name`` back the value the flow has (a refused assignment leaves the attribute as it was)."""
        if name in self._known:
            self._work.__dict__[name] = json.loads(self._known[name])
            self._seen[name] = self._work.__dict__[name]

    def _too_large(self, name: str, size: int) -> AttributeTooLargeError:
        owner = self._work.name or type(self._work).__name__
        return AttributeTooLargeError(
            f"{owner}.{name}: a value of {size} bytes (as JSON), over the limit of {self.max_value_bytes} bytes for "
            "a state attribute (lightning-ctl run --max-attribute-size); keep large data in a file, or in a private "
            f"attribute (_{name.lstrip('_')}) that stays in the work's process",
            component_name=owner, attribute=name, size=size, limit=self.max_value_bytes,
        )


_MISSING = object()
