"""Placement: which agent runs a work, and with which GPUs. Pure: capacities and allocations in, a decision out.

A work fits an agent when the agent carries every label the work asks for and has the GPUs, CPUs and memory it
asks for free (its capacity minus what the works placed on it hold), and a port: the one it asked for, not held by
another of the agent's works, or, on an agent with a port range (``--ports``), a port of the range no work holds.
GPU works go to the agent where they leave the fewest GPUs idle (packing, so that multi-GPU works still find room);
others spread by number of works. The nodes of a gang (a MultiNode) are placed together or not at all, one per
agent unless they may share one. What the placed works hold is kept in :class:`Holdings`, updated as works are
placed and released, so that no decision recounts every allocation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

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
class _Held:
    """What the works placed on one agent hold together."""

    cpus: float = 0.0
    memory_bytes: int = 0
    gpu_indices: list[int] = field(default_factory=list)
    works: int = 0
    asked_ports: Counter[int] = field(default_factory=Counter)
    """The ports works placed there asked for (each with how many works hold it)."""
    any_port_works: int = 0
    """Works placed there that take whichever port their agent gives (one of its range, when it has one)."""

    def range_ports_held(self, ports: tuple[int, int]) -> int:
        """How many ports of the range ``ports`` the works placed there hold."""
        first, last = ports
        return self.any_port_works + sum(n for port, n in self.asked_ports.items() if first <= port <= last)


class Holdings:
    """What the placed works hold on each agent, kept up to date as works are placed and released.

    A placement decision never recounts every allocation (one control plane places thousands of works).
    """

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
        if allocation.port:
            held.asked_ports[allocation.port] += 1
        else:
            held.any_port_works += 1

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
        if not allocation.port:
            held.any_port_works -= 1
        elif held.asked_ports[allocation.port] > 1:
            held.asked_ports[allocation.port] -= 1
        else:
            del held.asked_ports[allocation.port]

    def works_on(self, agent_id: str) -> int:
        """How many placed works hold something on ``agent_id``."""
        held = self._held.get(agent_id)
        return held.works if held is not None else 0

    def free_gpus(self, agent: AgentCapacity) -> list[int]:
        """The GPUs of ``agent`` no placed work holds."""
        held = self._held.get(agent.agent_id)
        return list(agent.gpu_indices) if held is None else [i for i in agent.gpu_indices if i not in held.gpu_indices]

    def misfit(self, request: ResourceRequest, agent: AgentCapacity, port: int = 0) -> str | None:
        """Why ``agent`` cannot take a work needing ``request`` (and ``port``, 0 for any) now, or None when it can."""
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
        if port:
            return f"port {port} held by another of its works" if port in held.asked_ports else None
        if agent.ports is not None and held.range_ports_held(agent.ports) >= agent.ports[1] - agent.ports[0] + 1:
            return f"every port of its range {agent.ports[0]}-{agent.ports[1]} held by its works"
        return None

    def room_for(self, request: ResourceRequest, agent: AgentCapacity, port: int = 0) -> int:
        """How many works needing ``request`` (and ``port``) ``agent`` has room for (a request of nothing: 1)."""
        if self.misfit(request, agent, port) is not None:
            return 0
        held = self._held.get(agent.agent_id) or _NOTHING_HELD
        counts = []
        if request.gpus:
            counts.append(len(self.free_gpus(agent)) // request.gpus)
        if request.cpus:
            counts.append(int((agent.cpus - held.cpus + 1e-9) // request.cpus))
        if request.memory_bytes:
            counts.append((agent.memory_bytes - held.memory_bytes) // request.memory_bytes)
        if port:
            counts.append(1)
        elif agent.ports is not None:
            counts.append(agent.ports[1] - agent.ports[0] + 1 - held.range_ports_held(agent.ports))
        return max(0, min(counts)) if counts else 1


NO_AGENT_REASON = "no agent is connected"
_NOTHING_HELD = _Held()
_NOTHING_PARTICULAR = "no particular resources"
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
    return ", ".join(parts) or _NOTHING_PARTICULAR


def _listed(misfits: list[str], unfit: int) -> str:
    """The agents' reasons as one readable text (``unfit`` agents in all, the first few named)."""
    if unfit > len(misfits):
        # Not how many: the reason stays the same as a fleet joins, so the works waiting are not told anew with
        # each agent that joins.
        misfits = [*misfits, "and other agents"]
    return "; ".join(misfits)


def _wanted(request: ResourceRequest, port: int) -> str:
    """What a work asks for, in a pending reason: its resources and the port it asked for (or "a port")."""
    wanted = describe(request)
    if port:
        return f"port {port}" if wanted == _NOTHING_PARTICULAR else f"{wanted} and port {port}"
    return "a port" if wanted == _NOTHING_PARTICULAR else wanted  # nothing else can be missing


def place_work(
    request: ResourceRequest,
    agents: Iterable[AgentCapacity],
    allocations: Iterable[Allocation] | Holdings,
    port: int = 0,
) -> Allocation | Pending:
    """Where to run a work needing ``request`` (and ``port``, 0 for any), given the agents and what they hold.

    ``allocations`` may be the :class:`Holdings` the caller keeps up to date (no recount per decision).
    """
    holdings = allocations if isinstance(allocations, Holdings) else Holdings(allocations)
    best: tuple[int, int, str] | None = None
    chosen: AgentCapacity | None = None
    misfits: list[str] = []
    unfit = 0
    for agent in agents:
        reason = holdings.misfit(request, agent, port)
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
        return Pending(f"no agent has {_wanted(request, port)} free ({_listed(misfits, unfit)})")
    return Allocation(
        agent_id=chosen.agent_id,
        cpus=request.cpus,
        memory_bytes=request.memory_bytes,
        gpu_indices=tuple(sorted(holdings.free_gpus(chosen))[: request.gpus]),
        port=port,
    )


def place_gang(
    gang_name: str,
    requests: Sequence[ResourceRequest],
    agents: Iterable[AgentCapacity],
    allocations: Iterable[Allocation] | Holdings,
    pack: bool = False,
    ports: Sequence[int] = (),
) -> list[Allocation] | Pending:
    """Where to run every node of a gang at once (one allocation per request, by rank), or why it must wait.

    All or nothing: no node is placed unless all are, so a gang never holds agents while it waits for more, and two
    gangs waiting for the same agents never deadlock each other. Nodes go one per agent unless ``pack``. ``ports``:
    the port each node asked for (0 or none given: any). ``allocations`` may be the caller's :class:`Holdings`: it
    is left as it was.
    """
    agents = list(agents)
    if not agents:
        return Pending(NO_AGENT_REASON)
    holdings = allocations if isinstance(allocations, Holdings) else Holdings(allocations)
    asked = list(ports) or [0] * len(requests)
    placed: list[Allocation] = []
    try:
        for request, port in zip(requests, asked, strict=True):
            used = {allocation.agent_id for allocation in placed}
            decision = place_work(request, (a for a in agents if pack or a.agent_id not in used), holdings, port)
            if isinstance(decision, Pending):
                break
            holdings.hold(decision)  # the next nodes see what this one takes
            placed.append(decision)
    finally:
        for allocation in placed:
            holdings.release(allocation)
    if len(placed) < len(requests):
        return Pending(_gang_misfit(gang_name, len(requests), requests[0], asked[0], agents, holdings, pack))
    return placed


def _gang_misfit(gang_name: str, size: int, request: ResourceRequest, port: int, agents: list[AgentCapacity],
                 holdings: Holdings, pack: bool) -> str:
    """One readable reason for the gang, e.g. "gang root.train needs 4 agents with 1 GPU free; 3 have (...)"."""
    misfits: list[str] = []
    unfit = 0
    fitting: list[AgentCapacity] = []
    for agent in agents:
        reason = holdings.misfit(request, agent, port)
        if reason is None:
            fitting.append(agent)
            continue
        unfit += 1
        if len(misfits) < _REASONS_LISTED:
            misfits.append(f"{agent.name}: {reason}")
    detail = f" ({_listed(misfits, unfit)})" if misfits else ""
    if pack:
        room = sum(holdings.room_for(request, agent, port) for agent in fitting)
        return (f"gang {gang_name} needs room for {size} nodes with {describe(request)}"
                f"{f' and port {port}' if port else ''}; the agents have room for {room}{detail}")
    if not misfits and not port and describe(request) == _NOTHING_PARTICULAR:  # too few agents, nothing else
        return f"gang {gang_name} needs {size} agents; {len(fitting)} {'is' if len(fitting) == 1 else 'are'} connected"
    return (f"gang {gang_name} needs {size} agents with {_wanted(request, port)} free; "
            f"{len(fitting)} {'has' if len(fitting) == 1 else 'have'}{detail}")
