"""PlacementBook: where each work is placed, with what each agent's works hold, kept as placements change.

A mapping from work name to its placement. Every write goes through it, so what the works hold on each agent
(:class:`~lightning_ctl.controlplane.agents.placement.Holdings`) and which works each agent runs are always current:
a placement decision or an agent's reconnection costs no recount of every placement.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass

from lightning_ctl.controlplane.agents.placement import Allocation, Holdings


@dataclass
class WorkPlacement:
    """Where one work's current attempt is placed."""

    attempt: int
    allocation: Allocation
    lost_grace_s: float | None = None


class PlacementBook(MutableMapping[str, WorkPlacement]):
    """Work name -> placement, with the holdings and the works of each agent kept alongside."""

    def __init__(self) -> None:
        self._placements: dict[str, WorkPlacement] = {}
        self.holdings = Holdings()
        """What the placed works hold on each agent."""
        self._by_agent: dict[str, dict[str, None]] = {}
        """The works placed on each agent, in placement order."""
        self.releases = 0
        """How many placements were removed or replaced so far (room may have freed since a given count)."""

    def __getitem__(self, work_name: str) -> WorkPlacement:
        return self._placements[work_name]

    def __setitem__(self, work_name: str, placement: WorkPlacement) -> None:
        if work_name in self._placements:
            del self[work_name]
        self._placements[work_name] = placement
        self.holdings.hold(placement.allocation)
        self._by_agent.setdefault(placement.allocation.agent_id, {})[work_name] = None

    def __delitem__(self, work_name: str) -> None:
        placement = self._placements.pop(work_name)
        self.releases += 1
        self.holdings.release(placement.allocation)
        works = self._by_agent.get(placement.allocation.agent_id)
        if works is not None:
            works.pop(work_name, None)
            if not works:
                del self._by_agent[placement.allocation.agent_id]

    def get(self, work_name: str, default: WorkPlacement | None = None) -> WorkPlacement | None:  # type: ignore[override]
        """The placement of ``work_name`` (``default`` when it has none); without Mapping's slow path."""
        return self._placements.get(work_name, default)

    def __contains__(self, work_name: object) -> bool:
        return work_name in self._placements

    def __iter__(self) -> Iterator[str]:
        return iter(self._placements)

    def __len__(self) -> int:
        return len(self._placements)

    def placed_on(self, agent_id: str) -> tuple[tuple[str, int], ...]:
        """The (work, attempt) placed on ``agent_id``."""
        return tuple((name, self._placements[name].attempt) for name in self._by_agent.get(agent_id, ()))
