"""Which of a work's attribute values the flow already has, and sending the ones it does not.

Assignments are reported as they happen (``note``); in-place mutations such as ``list.append`` are caught by a
periodic ``sweep``. Each change is sent as the attribute's whole new value, so applying it is idempotent and order
is all that matters (unlike positional list diffs).
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

from lightning_ctl.sdk._component import to_json
from lightning_ctl.sdk._storage_values import received_value
from lightning_ctl.sdk._work import LightningWork


class VarsTracker:
    """Remembers the JSON of each state attribute as last sent to (or received from) the flow."""

    def __init__(self, work: LightningWork, send_vars_json: Callable[[str], None]) -> None:
        self._work = work
        self._send = send_vars_json
        self._known: dict[str, str] = {}
        # Re-entrant: the SIGTERM handler runs on the main thread and may interrupt a note() holding the lock.
        self._lock = threading.RLock()

    def absorb(self, values: dict[str, Any], echo: bool = False) -> None:
        """Apply the flow's values to the work.

        With ``echo``, the values are sent back as the work's own change: if the work assigned one of them while
        the flow's update was in flight, the flow would otherwise keep the work's older value while the work holds
        the flow's. Echoing makes the work's stream the one order both sides converge to.
        """
        if not values:
            return
        with self._lock:
            encoded = {name: to_json(value) for name, value in values.items()}
            for name, value in values.items():
                self._work.__dict__[name] = received_value(self._work, value)
                self._work._state_names().add(name)
                self._known[name] = encoded[name]
            if echo:
                self._send("{" + ",".join(f"{json.dumps(n)}:{e}" for n, e in encoded.items()) + "}")

    def note(self, name: str, value: Any) -> None:
        """The work assigned ``name``: send it if the flow's copy differs."""
        encoded = to_json(value)
        with self._lock:
            if self._known.get(name) == encoded:
                return
            self._known[name] = encoded
            self._send(f"{{{json.dumps(name)}:{encoded}}}")

    def sweep(self) -> None:
        """Send every state attribute whose value changed without an assignment (in-place mutation)."""
        changed: list[str] = []
        with self._lock:
            for name in list(self._work._state_names()):
                value = self._work.__dict__.get(name)
                if name == "_cloud_compute":
                    continue
                try:
                    encoded = to_json(value)
                except (TypeError, ValueError, RuntimeError):
                    continue  # mutated while being encoded, or not JSON any more: the next sweep sees it
                if self._known.get(name) != encoded:
                    self._known[name] = encoded
                    changed.append(f"{json.dumps(name)}:{encoded}")
            if changed:
                self._send("{" + ",".join(changed) + "}")
