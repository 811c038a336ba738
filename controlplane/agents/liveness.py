"""Liveness: which agents are alive, as one small pure object (nomad's ``heartbeat.go``).

Events and the time in, decisions out. The registry feeds it and carries its decisions out; no clock, socket
or task lives here.

    connected (welcome sent) ─► heard (first message: the link's round trip is measured) ─► heard ... heard
        │ nothing within FIRST_MESSAGE_GRACE_S            │ silent longer than its limit
        ▼                                                 ▼
      silent ──────────────────────────────────────► end its stream ─► disconnected (since when)
                                                                           │ reconnects: connected again

Any message counts as a sign of life, not only heartbeats. An agent's silence limit is ``MISSED_HEARTBEATS``
heartbeat periods plus the round trip measured on its link (the agent sends its first heartbeat as soon as it is
welcomed), so a slow link (a round trip longer than twice the heartbeat period) is not mistaken for a dead agent
while its messages keep arriving. When more than half of the known agents are disconnected at once, the control
plane is the likelier one cut off: nothing is declared lost then (the registry asks
:attr:`Liveness.majority_disconnected`).
"""

from __future__ import annotations

from dataclasses import dataclass

MISSED_HEARTBEATS = 3
FIRST_MESSAGE_GRACE_S = 30.0
"""How long a newly welcomed agent may take to send its first message (a round trip on a very slow link)."""


@dataclass
class _Agent:
    welcomed_at: float
    last_heard: float | None = None
    round_trip_s: float = 0.0


@dataclass(frozen=True)
class Silent:
    """An agent silent past its limit: its stream should end."""

    agent_id: str
    silent_s: float


class Liveness:
    """The liveness of every agent the control plane knows."""

    def __init__(self, heartbeat_interval_s: float) -> None:
        """Create the tracker.

        Args:
            heartbeat_interval_s: The period agents are told to heartbeat at.
        """
        self.heartbeat_interval_s = heartbeat_interval_s
        self._connected: dict[str, _Agent] = {}
        self._disconnected_at: dict[str, float] = {}

    def connected(self, agent_id: str, now: float) -> None:
        """``agent_id`` registered and was welcomed at ``now``."""
        self._connected[agent_id] = _Agent(welcomed_at=now)
        self._disconnected_at.pop(agent_id, None)

    def heard(self, agent_id: str, now: float) -> None:
        """A message of ``agent_id`` arrived at ``now``."""
        agent = self._connected.get(agent_id)
        if agent is None:
            return
        if agent.last_heard is None:
            agent.round_trip_s = max(0.0, now - agent.welcomed_at)
        agent.last_heard = now

    def disconnected(self, agent_id: str, now: float) -> None:
        """``agent_id``'s stream ended at ``now``."""
        if self._connected.pop(agent_id, None) is not None:
            self._disconnected_at.setdefault(agent_id, now)

    def limit_s(self, agent_id: str) -> float:
        """How long ``agent_id`` may stay silent now."""
        agent = self._connected[agent_id]
        if agent.last_heard is None:
            return max(FIRST_MESSAGE_GRACE_S, MISSED_HEARTBEATS * self.heartbeat_interval_s)
        return MISSED_HEARTBEATS * self.heartbeat_interval_s + agent.round_trip_s

    def silent(self, now: float) -> list[Silent]:
        """The connected agents silent past their limit at ``now`` (their streams should end)."""
        found = []
        for agent_id, agent in self._connected.items():
            silent_s = now - (agent.last_heard if agent.last_heard is not None else agent.welcomed_at)
            if silent_s > self.limit_s(agent_id):
                found.append(Silent(agent_id, silent_s))
        return found

    def disconnected_since(self, agent_id: str) -> float | None:
        """When ``agent_id`` was disconnected (None: connected, or never known)."""
        return self._disconnected_at.get(agent_id)

    @property
    def any_disconnected(self) -> bool:
        """Whether any known agent is disconnected."""
        return bool(self._disconnected_at)

    @property
    def majority_disconnected(self) -> bool:
        """Whether more than half of the known agents are disconnected (nothing is rescheduled then)."""
        known = len(self._connected) + len(self._disconnected_at)
        return len(self._disconnected_at) * 2 > known
