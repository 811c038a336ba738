"""Placement: which agent runs a work, and with which GPUs. Pure: capacities and allocations in, a decision out.

A work fits an agent when the agent carries every label the work asks for and has the GPUs, CPUs and memory it
asks for free (its capacity minus what the works placed on it hold), and a port: the one it asked for, not held by
another of the agent's works, or, on an agent with a port range (``--ports``), a port of the range no work holds. GPU works go to the agent where they leave
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
    ports: tuple[int, int] | None = None
    """The first and last port of the range its works get (``--ports``); None: any free port."""


@dataclass(frozen=True, slots=True)
class Allocation:
    """What a placed work holds on its agent."""

    agent_id: str
    cpus: float = 0.0
    memory_bytes: int = 0
    gpu_indices: tuple[int, ...] = ()
    port: int = 0
    """The port the work asked for (0: one its agent picks, from its range when it has one)."""


@dataclass(frozen=True, slots=True)
class Pending:
    """No agent fits the work right now, and why."""

    reason: str


@dataclass
class _Free:
    cpus: float
    memory_bytes: int
    gpu_indices: list[int]
    works: int = 0
    asked_ports: set[int] = field(default_factory=set)
    """Ports works placed there asked for."""
    range_ports_held: int = 0
    """Ports of the agent's range held by works placed there."""


def _free(agents: Iterable[AgentCapacity], allocations: Iterable[Allocation]) -> dict[str, _Free]:
    free = {a.agent_id: _Free(a.cpus, a.memory_bytes, list(a.gpu_indices)) for a in agents}
    ranges = {a.agent_id: a.ports for a in agents}
    for allocation in allocations:
        agent = free.get(allocation.agent_id)
        if agent is None:
            continue
        agent.cpus -= allocation.cpus
        agent.memory_bytes -= allocation.memory_bytes
        agent.gpu_indices = [i for i in agent.gpu_indices if i not in allocation.gpu_indices]
        agent.works += 1
        if allocation.port:
            agent.asked_ports.add(allocation.port)
        ports = ranges[allocation.agent_id]
        if ports is not None and (not allocation.port or ports[0] <= allocation.port <= ports[1]):
            agent.range_ports_held += 1
    return free


def _port_misfit(port: int, agent: AgentCapacity, free: _Free) -> str | None:
    """Why ``agent`` has no port for the work (``port``: the one it asked for, 0 for any), or None."""
    if port:
        return f"port {port} held by another of its works" if port in free.asked_ports else None
    if agent.ports is not None and free.range_ports_held >= agent.ports[1] - agent.ports[0] + 1:
        return f"every port of its range {agent.ports[0]}-{agent.ports[1]} held by its works"
    return None


def _misfit(request: ResourceRequest, agent: AgentCapacity, free: _Free, port: int = 0) -> str | None:
    """Why ``agent`` cannot take the work now, or None when it can."""
    missing = {k: v for k, v in request.labels.items() if agent.labels.get(k) != v}
    if missing:
        return "labels " + ",".join(f"{k}={v}" for k, v in sorted(missing.items())) + " missing"
    if request.gpus > len(free.gpu_indices):
        return f"{len(free.gpu_indices)} of {len(agent.gpu_indices)} GPUs free"
    if request.cpus > free.cpus + 1e-9:
        return f"{free.cpus:g} of {agent.cpus:g} CPUs free"
    if request.memory_bytes > free.memory_bytes:
        return f"{free.memory_bytes / 2**30:.1f} of {agent.memory_bytes / 2**30:.1f} GiB free"
    return _port_misfit(port, agent, free)


_NOTHING_PARTICULAR = "no particular resources"


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
    return ", ".join(parts) or _NOTHING_PARTICULAR


def place_work(
    request: ResourceRequest, agents: Iterable[AgentCapacity], allocations: Iterable[Allocation], port: int = 0
) -> Allocation | Pending:
    """Where to run a work needing ``request`` (and ``port``, 0 for any).

    Given the agents and what is already placed on them.
    """
    agents = list(agents)
    if not agents:
        return Pending("no agent is connected")
    free = _free(agents, allocations)
    candidates = []
    misfits = []
    for agent in agents:
        reason = _misfit(request, agent, free[agent.agent_id], port)
        if reason is None:
            candidates.append(agent)
        else:
            misfits.append(f"{agent.name}: {reason}")
    if not candidates:
        wanted = describe(request)
        if port:
            wanted = f"port {port}" if wanted == _NOTHING_PARTICULAR else f"{wanted} and port {port}"
        elif wanted == _NOTHING_PARTICULAR:  # only a port can be missing
            wanted = "a port"
        return Pending(f"no agent has {wanted} free ({'; '.join(misfits)})")

    def preference(agent: AgentCapacity) -> tuple[int, int, str]:
        room = free[agent.agent_id]
        idle_gpus_after = len(room.gpu_indices) - request.gpus if request.gpus else 0
        return idle_gpus_after, room.works, agent.agent_id

    chosen = min(candidates, key=preference)
    return Allocation(
        agent_id=chosen.agent_id,
        cpus=request.cpus,
        memory_bytes=request.memory_bytes,
        gpu_indices=tuple(sorted(free[chosen.agent_id].gpu_indices)[: request.gpus]),
        port=port,
    )
