"""WorkLocations: which agent each (work, attempt) was placed on, and which attributes its events may set.

The control plane's own record, written before a launch leaves for its agent (write-ahead) and kept on disk, so
that after a restart it still knows: an agent is believed about the work processes it runs (``running`` in its
registration) and its events are accepted only for attempts placed on it. Attempts that exited stay recorded
(their late events are still theirs) until the app ends.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import structlog

from lightning_ctl.sdk._events import RunningWork
from lightning_ctl.sdk._files import write_atomic

log = structlog.get_logger(component="locations")

WorkKey = tuple[str, int]


@dataclass(frozen=True)
class Location:
    """Where one attempt of a work runs."""

    agent_id: str
    attributes: frozenset[str] | None
    """The state attributes the work declared (what its deltas may set); None when not known."""
    exited: bool = False


class WorkLocations:
    """The placement record of (work, attempt), kept in ``path`` (None: in memory only)."""

    def __init__(self, path: Path | None = None, resume: bool = True) -> None:
        """Create the record, taking back what ``path`` holds when ``resume``."""
        self._path = path
        self._locations: dict[WorkKey, Location] = {}
        self._encoded: dict[WorkKey, str] = {}
        """Each record as saved (JSON), kept so that a save encodes only what changed since the last one."""
        self._save_scheduled = False
        if path is not None and resume:
            self._load(path)

    def place(self, work_name: str, attempt: int, agent_id: str, attributes: frozenset[str] | None = None) -> None:
        """Record (work, attempt) on ``agent_id``; saved before the launch can reach the agent.

        ``attributes`` (the state attributes in its launch) are kept from an earlier record when not given.
        """
        previous = self._locations.get((work_name, attempt))
        if attributes is None and previous is not None:
            attributes = previous.attributes
        location = Location(agent_id, attributes)
        if previous != location:
            self._set((work_name, attempt), location)

    def get(self, work_name: str, attempt: int) -> Location | None:
        """Where (work, attempt) was placed, exited or not."""
        return self._locations.get((work_name, attempt))

    def running_on(self, work_name: str, attempt: int) -> str | None:
        """The agent running (work, attempt), or None when it is not placed or exited."""
        location = self._locations.get((work_name, attempt))
        return location.agent_id if location is not None and not location.exited else None

    def running_on_agent(self, agent_id: str) -> list[WorkKey]:
        """The (work, attempt) placed on ``agent_id`` and not known to have exited."""
        return [key for key, loc in self._locations.items() if loc.agent_id == agent_id and not loc.exited]

    def mark_exited(self, work_name: str, attempt: int) -> None:
        """The process of (work, attempt) exited."""
        location = self._locations.get((work_name, attempt))
        if location is not None and not location.exited:
            self._set((work_name, attempt), Location(location.agent_id, location.attributes, exited=True))

    def split_claims(
        self, agent_id: str, running: tuple[RunningWork, ...]
    ) -> tuple[tuple[RunningWork, ...], tuple[RunningWork, ...]]:
        """The work processes ``agent_id`` says it runs: those placed on it, and the others (to be stopped).

        A claim of a (work, attempt) this control plane never placed, or placed on another agent, is refused: an
        agent reports only on what is placed on it.
        """
        accepted: list[RunningWork] = []
        refused: list[RunningWork] = []
        for work in running:
            location = self._locations.get((work.work_name, work.attempt))
            (accepted if location is not None and location.agent_id == agent_id else refused).append(work)
        if refused:
            log.warning("claims_refused", agent_id=agent_id, works=[f"{w.work_name}#{w.attempt}" for w in refused],
                        reason="not placed on this agent")
        return tuple(accepted), tuple(refused)

    # -- persistence ----------------------------------------------------------------------------------------------

    def _set(self, key: WorkKey, location: Location) -> None:
        self._locations[key] = location
        self._encoded.pop(key, None)
        self._changed()

    def _changed(self) -> None:
        """Save now, or once at the end of this turn of the event loop (before any write it queued)."""
        if self._path is None or self._save_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.save()
            return
        self._save_scheduled = True
        loop.call_soon(self.save)

    def save(self) -> None:
        """Write the record (atomically)."""
        self._save_scheduled = False
        if self._path is None:
            return
        encoded = self._encoded
        for key, loc in self._locations.items():
            if key not in encoded:
                encoded[key] = json.dumps({
                    "work_name": key[0], "attempt": key[1], "agent_id": loc.agent_id,
                    "attributes": sorted(loc.attributes) if loc.attributes is not None else None,
                    "exited": loc.exited})
        try:
            write_atomic(self._path, "[" + ", ".join(encoded[key] for key in self._locations) + "]")
        except OSError as exc:
            log.error("locations_not_saved", path=str(self._path), error=str(exc))

    def _load(self, path: Path) -> None:
        try:
            entries = json.loads(path.read_text())
            for entry in entries:
                key = (str(entry["work_name"]), int(entry["attempt"]))
                attributes = entry["attributes"]
                self._locations[key] = Location(str(entry["agent_id"]),
                                                frozenset(attributes) if attributes is not None else None,
                                                bool(entry["exited"]))
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("locations_unreadable", path=str(path), error=str(exc),
                      hint="agents' running works will be stopped when they reconnect")
