"""Placement: which agent runs a work, and with which GPUs. Pure: capacities and allocations in, a decision out.

A work fits an agent when the agent carries every label the work asks for and has the GPUs, CPUs and memory it
asks for free (its capacity minus what the works placed on it hold). GPU works go to the agent where they leave
the fewest GPUs idle (packing, so that multi-GPU works still find room); others spread by number of works.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from lightning_ctl.sdk._events import ResourceRequest


@dataclass(frozen=True, slots=True)
class AgentCapacity:
    """What one connected agent offers in total."""

    agent_id: str
    name: str
    cpus: float
    memory_bytes: int
    gpu_indices: tuple[int, ...]
    labels: dict[str, str] = field(default_factory=dict)
    is_local: bool = False
    """Started by lightning-ctl next to the control plane: it shares its files and needs no code bundle."""


@dataclass(frozen=True, slots=True)
class Allocation:
    """What a placed work holds on its agent."""

    agent_id: str
    cpus: float = 0.0
    memory_bytes: int = 0
    gpu_indices: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Pending:
    """No agent fits the work right now, and why."""

    reason: str


@dataclass
class _Held:
    """What the works placed on one agent hold together."""

    cpus: float = 0.0
    memory_bytes: int = 0
    gpu_indices: list[int] = field(default_factory=list)
    works: int = 0


class Holdings:
    """What the placed works hold on each agent, kept up to date as works are placed and released, so that a
    placement decision never recounts every allocation (one control plane places thousands of works)."""

    def __init__(self, allocations: Iterable[Allocation] = ()) -> None:
        self._held: dict[str, _Held] = {}
        for allocation in allocations:
            self.hold(allocation)

    def hold(self, allocation: Allocation) -> None:
        """A work now holds ``allocation``."""
        held = self._held.get(allocation.agent_id)
        if held is None:
            held = self._held[allocation.agent_id] = _Held()
        held.cpus += allocation.cpus
        held.memory_bytes += allocation.memory_bytes
        held.gpu_indices.extend(allocation.gpu_indices)
        held.works += 1

    def release(self, allocation: Allocation) -> None:
        """The work holding ``allocation`` gave it back."""
        held = self._held.get(allocation.agent_id)
        if held is None:
            return
        held.works -= 1
        if held.works <= 0:
            del self._held[allocation.agent_id]  # starts again from zero: no drift of fractional CPUs
            return
        held.cpus -= allocation.cpus
        held.memory_bytes -= allocation.memory_bytes
        for index in allocation.gpu_indices:
            if index in held.gpu_indices:
                held.gpu_indices.remove(index)

    def works_on(self, agent_id: str) -> int:
        """How many placed works hold something on ``agent_id``."""
        held = self._held.get(agent_id)
        return held.works if held is not None else 0

    def free_gpus(self, agent: AgentCapacity) -> list[int]:
        """The GPUs of ``agent`` no placed work holds."""
        held = self._held.get(agent.agent_id)
        return list(agent.gpu_indices) if held is None else [i for i in agent.gpu_indices if i not in held.gpu_indices]

    def misfit(self, request: ResourceRequest, agent: AgentCapacity) -> str | None:
        """Why ``agent`` cannot take a work needing ``request`` now, or None when it can."""
        if request.labels:
            missing = {k: v for k, v in request.labels.items() if agent.labels.get(k) != v}
            if missing:
                return "labels " + ",".join(f"{k}={v}" for k, v in sorted(missing.items())) + " missing"
        held = self._held.get(agent.agent_id) or _NOTHING_HELD
        if request.gpus:
            free_gpus = len(self.free_gpus(agent))
            if request.gpus > free_gpus:
                return f"{free_gpus} of {len(agent.gpu_indices)} GPUs free"
        if request.cpus > agent.cpus - held.cpus + 1e-9:
            return f"{agent.cpus - held.cpus:g} of {agent.cpus:g} CPUs free"
        if request.memory_bytes > agent.memory_bytes - held.memory_bytes:
            return (f"{(agent.memory_bytes - held.memory_bytes) / 2**30:.1f} of {agent.memory_bytes / 2**30:.1f} GiB "
                    "free")
        return None


NO_AGENT_REASON = "no agent is connected"
_NOTHING_HELD = _Held()
_REASONS_LISTED = 8
"""Agents named in a pending reason (the others are counted): a fleet's reason stays readable, and cheap."""


def describe(request: ResourceRequest) -> str:
    """A short human form of a request, e.g. "2 GPUs, 4 CPUs, zone=a"."""
    parts = []
    if request.gpus:
        parts.append(f"{request.gpus} GPU{'s' if request.gpus > 1 else ''}")
    if request.cpus:
        parts.append(f"{request.cpus:g} CPUs")
    if request.memory_bytes:
        parts.append(f"{request.memory_bytes / 2**30:.1f} GiB")
    parts.extend(f"{k}={v}" for k, v in sorted(request.labels.items()))
    return ", ".join(parts) or "no particular resources"


def place_work(
    request: ResourceRequest, agents: Iterable[AgentCapacity], allocations: Iterable[Allocation] | Holdings
) -> Allocation | Pending:
    """Where to run a work needing ``request``, given the agents and what is already placed on them.

    ``allocations`` may be the :class:`Holdings` the caller keeps up to date (no recount per decision).
    """
    holdings = allocations if isinstance(allocations, Holdings) else Holdings(allocations)
    best: tuple[int, int, str] | None = None
    chosen: AgentCapacity | None = None
    misfits: list[str] = []
    unfit = 0
    for agent in agents:
        reason = holdings.misfit(request, agent)
        if reason is not None:
            unfit += 1
            if len(misfits) < _REASONS_LISTED:
                misfits.append(f"{agent.name}: {reason}")
            continue
        idle_gpus_after = len(holdings.free_gpus(agent)) - request.gpus if request.gpus else 0
        preference = (idle_gpus_after, holdings.works_on(agent.agent_id), agent.agent_id)
        if best is None or preference < best:
            best, chosen = preference, agent
    if chosen is None:
        if not unfit:
            return Pending(NO_AGENT_REASON)
        if unfit > len(misfits):
            # Not how many: the reason stays the same as a fleet joins, so the works waiting are not told anew
            # with each agent that joins.
            misfits.append("and other agents")
        return Pending(f"no agent has {describe(request)} free ({'; '.join(misfits)})")
    return Allocation(
        agent_id=chosen.agent_id,
        cpus=request.cpus,
        memory_bytes=request.memory_bytes,
        gpu_indices=tuple(sorted(holdings.free_gpus(chosen))[: request.gpus]),
    )
