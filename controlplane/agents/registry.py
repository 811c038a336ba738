"""AgentRegistry: the connected agents, what is placed on them, and routing each work's commands to its agent.

Whether agents are alive is decided by ``liveness.Liveness``; the registry feeds it and carries its decisions out.

Runs on the I/O (asyncio) thread. A launch is placed by the scheduler; while no agent fits, the launch and the
commands that follow it wait, the work's status says why, and placement is retried whenever an agent joins or a
work's process exits (freeing what it held).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import structlog

from lightning_ctl.controlplane.agents.app_bundle import AppBundle
from lightning_ctl.controlplane.agents.liveness import Liveness
from lightning_ctl.controlplane.agents.locations import WorkLocations
from lightning_ctl.controlplane.agents.placement import (
    NO_AGENT_REASON,
    AgentCapacity,
    Allocation,
    Pending,
    place_gang,
    place_work,
)
from lightning_ctl.controlplane.agents.placement_book import PlacementBook, WorkPlacement
from lightning_ctl.controlplane.agents.serving import ServingWorks
from lightning_ctl.sdk._agent_messages import AgentUsage, EventRejected, OpenTunnel
from lightning_ctl.sdk._events import (
    Command,
    EventsApplied,
    GangSpec,
    LaunchWork,
    OutputShown,
    PlacementPending,
    RunningWork,
    StopWork,
    WorkLost,
    WorkUnreachable,
)

log = structlog.get_logger(component="registry")


@dataclass
class AgentSession:
    """One connected agent."""

    capacity: AgentCapacity
    hostname: str
    outgoing: asyncio.Queue[Command | OpenTunnel | EventsApplied | OutputShown | EventRejected] = field(
        default_factory=asyncio.Queue
    )
    last_heartbeat: float = field(default_factory=time.monotonic)
    close: Callable[[str], None] = lambda reason: None
    """Ends the agent's stream (set by the servicer)."""
    output_seen: set[tuple[str, int]] = field(default_factory=set)
    """The (work, attempt) whose output came through this session, to acknowledge."""
    output_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when output came that is not acknowledged yet (an agent whose works print nothing costs no timer)."""
    scope: str = ""
    """The scope of the join token the agent registered with (e.g. a provider's request id)."""
    usage: AgentUsage | None = None
    """The machine's live use, from its last heartbeat."""

    @property
    def agent_id(self) -> str:
        """The agent's stable identity."""
        return self.capacity.agent_id

    @property
    def name(self) -> str:
        """The agent's display name."""
        return self.capacity.name


class AgentRegistry:
    """Tracks agents and placements, and routes each work's commands to its agent."""

    def __init__(
        self,
        report_pending: Callable[[PlacementPending], None] = lambda pending: None,
        bundle: AppBundle | None = None,
        report_unreachable: Callable[[WorkUnreachable], None] = lambda unreachable: None,
        heartbeat_interval_s: float = 2.0,
    ) -> None:
        self.bundle = bundle
        self.liveness = Liveness(heartbeat_interval_s)
        self._report_unreachable = report_unreachable
        self._stopping: set[tuple[str, int]] = set()
        """The (work, attempt) sent a stop whose exit has not come back yet."""
        self.agents: dict[str, AgentSession] = {}
        self.placements = PlacementBook()
        self._waiting: dict[str, list[Command]] = {}
        self._report_pending = report_pending
        self._pending_reasons: dict[str, str] = {}
        self.serving = ServingWorks()
        """Where each work's server is (the proxy's table), as the agents report it."""
        self.locations = WorkLocations()
        """Which agent runs each (work, attempt), including replaced attempts that may come back (kept on disk
        by the app host, so that it survives a restart)."""
        self._names: dict[str, str] = {}
        self._unplaceable: set[str] = set()
        """Works whose last placement found no connected agent able to take them (not those waiting for a bundle)."""
        self._unfit: dict[tuple[object, ...], Pending] = {}
        """Requests that found no room since capacity last grew (an agent joined or left, a work released what
        it held): the works waiting with the same request are not placed again one by one, each against every
        agent, when nothing changed for them."""
        self._unfit_generation = (0, 0)
        self._agents_generation = 0
        self._retried_generation = (0, 0)
        """The room's generation when what waits was last routed again."""
        self._gangs_waiting: dict[tuple[str, int], dict[int, LaunchWork]] = {}
        """The waiting launches of each gang's generation, by rank (checked against ``_waiting`` when read)."""
        self._observers: list[Callable[[], None]] = []
        self.works_credential = ""
        """What every launch carries for its work's process alone: the works' key to the app's HTTP API ("" for
        none; set by the app host)."""

    def watch(self, observer: Callable[[], None]) -> None:
        """Call ``observer`` (on this thread) whenever what waits for or runs on agents may have changed.

        That is the works waiting for an agent, the agents, or what is placed on them; agents on demand read
        ``waiting_for_agent`` and ``placed_on`` then.
        """
        self._observers.append(observer)

    def _changed(self) -> None:
        for observer in self._observers:
            observer()

    def waiting_for_agent(self) -> list[LaunchWork]:
        """The launches waiting because no connected agent can take them, oldest first."""
        waiting = []
        for name, commands in self._waiting.items():
            launch = next((c for c in commands if isinstance(c, LaunchWork)), None)
            if launch is not None and name in self._unplaceable:
                waiting.append(launch)
        return waiting

    def declare_lost(self, agent_id: str, reason: str) -> list[WorkLost]:
        """The agent is known to be gone for good (its engine ended its job).

        Its works are lost now, without waiting out their grace period. Nothing happens while it is still
        connected.
        """
        if agent_id in self.agents:
            return []
        lost = [WorkLost(name, attempt, reason) for name, attempt in self.placed_on(agent_id)]
        for work in lost:
            del self.placements[work.work_name]
        if lost:
            log.warning("works_lost", works=[w.work_name for w in lost], agent_id=agent_id, reason=reason)
            self._retry_waiting()
        return lost

    def add(self, session: AgentSession, running: tuple[RunningWork, ...] = ()) -> None:
        """An agent registered, running ``running``: record where those work processes are, place what waits."""
        previous = self.agents.get(session.agent_id)
        if previous is not None and previous is not session:
            previous.close("replaced by a new session of the same agent")
        self.agents[session.agent_id] = session
        self._agents_generation += 1
        self.liveness.connected(session.agent_id, time.monotonic())
        self._names[session.agent_id] = session.name
        log.info("agent_connected", agent_id=session.agent_id, name=session.name, cpus=session.capacity.cpus,
                 gpus=len(session.capacity.gpu_indices), labels=session.capacity.labels, running=len(running))
        for work in running:
            self.locations.place(work.work_name, work.attempt, session.agent_id)
            current = self.placements.get(work.work_name)
            if current is None or current.attempt <= work.attempt:
                self.placements[work.work_name] = WorkPlacement(
                    work.attempt, Allocation(session.agent_id, gpu_indices=work.gpu_indices, port=work.port)
                )
        self._retry_waiting()
        self._changed()

    def remove(self, session: AgentSession, reason: str) -> None:
        """An agent's stream ended."""
        if self.agents.get(session.agent_id) is session:
            del self.agents[session.agent_id]
            self._agents_generation += 1
            self.liveness.disconnected(session.agent_id, time.monotonic())
            log.info("agent_disconnected", agent_id=session.agent_id, name=session.name, reason=reason)
            for work_name, attempt in sorted(self._stopping):
                if self.locations.running_on(work_name, attempt) == session.agent_id:
                    self._report_unreachable(WorkUnreachable(
                        work_name, attempt, f"agent {session.name} disconnected while stopping it"))
            self._changed()

    def find_lost(self, default_grace_s: float) -> list[WorkLost]:
        """Works whose agent has been disconnected past their grace period (their placements are released).

        When more than half of the known agents are disconnected at once, nothing is declared lost: the control
        plane itself is the likelier one cut off, and rescheduling would run works twice.
        """
        if not self.liveness.any_disconnected or self.liveness.majority_disconnected:
            return []
        now = time.monotonic()
        lost = []
        for name, placement in list(self.placements.items()):
            since = self.liveness.disconnected_since(placement.allocation.agent_id)
            grace_s = default_grace_s if placement.lost_grace_s is None else placement.lost_grace_s
            if since is not None and now - since > grace_s:
                agent = self._names.get(placement.allocation.agent_id, placement.allocation.agent_id)
                lost.append(WorkLost(name, placement.attempt, f"agent {agent} disconnected for {now - since:.0f}s"))
                del self.placements[name]
        if lost:
            log.warning("works_lost", works=[w.work_name for w in lost])
            self._retry_waiting()
        return lost

    def release(self, work_name: str, attempt: int) -> None:
        """The process of (work_name, attempt) exited: free what it held and place what was waiting."""
        self.locations.mark_exited(work_name, attempt)
        self._stopping.discard((work_name, attempt))
        placement = self.placements.get(work_name)
        if placement is not None and placement.attempt == attempt:
            del self.placements[work_name]
            self._retry_waiting()
            self._changed()
        elif self._waiting and self._retried_generation != self._generation():
            # Its work (or gang) was placed again while it ran, which gave back what it held in the book: the room
            # is only free now that it exited.
            self._retry_waiting()

    def placed_on(self, agent_id: str) -> tuple[tuple[str, int], ...]:
        """The (work, attempt) placed on ``agent_id`` and not known to have exited.

        Known by this control plane, or by the one before a restart, as the placement record has it.
        """
        placed = set(self.placements.placed_on(agent_id))
        placed.update(self.locations.running_on_agent(agent_id))
        return tuple(sorted(placed))

    def close_all(self, reason: str) -> None:
        """End every agent's stream (the control plane is shutting down)."""
        for session in list(self.agents.values()):
            session.close(reason)

    def heard(self, session: AgentSession) -> None:
        """A message of ``session``'s agent arrived (any message is a sign of life)."""
        now = time.monotonic()
        session.last_heartbeat = now
        if self.agents.get(session.agent_id) is session:
            self.liveness.heard(session.agent_id, now)

    def check_liveness(self, now: float | None = None) -> None:
        """End the streams of agents silent past their limit (see ``liveness``)."""
        for silent in self.liveness.silent(time.monotonic() if now is None else now):
            session = self.agents.get(silent.agent_id)
            if session is not None:
                reason = f"no message for {silent.silent_s:.1f}s"
                self.remove(session, reason)
                session.close(reason)

    def _retry_waiting(self) -> None:
        """Route again what waits, oldest first.

        Once a work's request found no room, the works waiting with the same request wait on without being tried
        one by one (a fleet joining would cost agents x works). A gang's nodes are always routed: what one work
        could not get says nothing about where a gang goes.
        """
        self._retried_generation = self._generation()
        waiting, self._waiting = self._waiting, {}
        for name, commands in waiting.items():
            launch = next((c for c in commands if isinstance(c, LaunchWork)), None)
            if (launch is not None and launch.gang is None and launch.work_name not in self.placements
                    and self.locations.running_on(name, launch.attempt) is None):
                unfit = self._unfit.get(_request_key(launch))
                if unfit is not None and self._unfit_generation == self._generation():
                    self._waiting[name] = commands
                    self._note_pending(launch, unfit.reason)
                    continue
            self.route(commands)

    def route(self, commands: Sequence[Command | EventsApplied]) -> None:
        """Send each command to its work's agent, placing launches first."""
        for command in commands:
            name = command.work_name
            if isinstance(command, EventsApplied):
                placement = self.placements.get(name)
                agent = self.agents.get(placement.allocation.agent_id) if placement else None
                if agent is not None:
                    agent.outgoing.put_nowait(command)
                continue
            if isinstance(command, StopWork) and self._cancel_waiting_launch(command):
                continue
            if isinstance(command, LaunchWork):
                placed = self._place(command)
                if placed is None:
                    continue
                command = placed
            elif isinstance(command, StopWork) and (where := self.locations.running_on(name, command.attempt)):
                # A stop names one process: it goes where that attempt runs, even if the work moved since.
                agent = self.agents.get(where)
                if agent is not None:
                    agent.outgoing.put_nowait(command)
                    self._stopping.add((name, command.attempt))
                else:
                    self._report_unreachable(WorkUnreachable(
                        name, command.attempt, f"agent {self._names.get(where, where)} is not connected"))
                continue
            elif name in self._waiting:
                self._waiting[name].append(command)
                continue
            placement = self.placements.get(name)
            agent = self.agents.get(placement.allocation.agent_id) if placement else None
            if agent is None:
                # Its agent is away: the flow loop sends what matters again when the agent reconnects.
                log.info("command_dropped", work_name=name, command=type(command).__name__,
                         reason="the work's agent is not connected")
                if isinstance(command, StopWork):
                    self._report_unreachable(WorkUnreachable(name, command.attempt, "its agent is not connected"))
                continue
            agent.outgoing.put_nowait(command)

    def _cancel_waiting_launch(self, stop: StopWork) -> bool:
        """A stop for an attempt whose launch still waits for room; whether there was such a launch.

        Such a launch never starts: no process runs on_start and holds a GPU only to be stopped.
        """
        waiting = self._waiting.get(stop.work_name, [])
        launch = next((c for c in waiting if isinstance(c, LaunchWork) and c.attempt == stop.attempt), None)
        if launch is None:
            return False
        if launch.gang is not None:
            self._forget_gang_launch(launch.gang)
        kept = [c for c in waiting if c.attempt != stop.attempt]
        if kept:
            self._waiting[stop.work_name] = kept
        else:
            del self._waiting[stop.work_name]
            self._pending_reasons.pop(stop.work_name, None)
        log.info("launch_cancelled", work_name=stop.work_name, attempt=stop.attempt, reason=stop.reason)
        return True

    def _place(self, launch: LaunchWork) -> LaunchWork | None:
        name = launch.work_name
        placed = self.placements.get(name)
        if launch.gang is not None and not (placed is not None and placed.attempt == launch.attempt):
            self._place_gang(launch)
            return None
        if placed is not None and placed.attempt == launch.attempt:
            # Sent again (it may have been lost): to the same agent, which ignores a launch it already has.
            agent = self.agents.get(placed.allocation.agent_id)
            shipped = self._ship_to(agent, launch) if agent is not None else launch
            if isinstance(shipped, Pending):
                return None  # the bundle is being rebuilt: the next reconnection sends it again
            return dataclasses.replace(shipped, gpu_indices=placed.allocation.gpu_indices)
        recorded = self.locations.running_on(name, launch.attempt)
        if recorded is not None and recorded not in self.agents:
            # Placed there before a restart of the control plane: that agent may run it, so only there, never twice.
            self._waiting.setdefault(name, []).append(launch)
            reason = f"waiting for agent {self._names.get(recorded, recorded)}, where it was placed, to reconnect"
            if self._pending_reasons.get(name) != reason:
                self._pending_reasons[name] = reason
                self._report_pending(PlacementPending(name, launch.attempt, reason))
            return None
        decision = self._decide(launch, self.agents[recorded] if recorded is not None else None)
        if isinstance(decision, Pending):
            self._waiting.setdefault(name, []).append(launch)
            self._note_pending(launch, decision.reason)
            return None
        agent = self.agents[decision.agent_id]
        shipped = self._ship_to(agent, launch)
        if isinstance(shipped, Pending):
            # Still counted as waiting for an agent if it was: other works may be waiting for this same one.
            self._waiting.setdefault(name, []).append(launch)
            self._report_pending(PlacementPending(name, launch.attempt, shipped.reason))
            return None
        self._record_placement(shipped, decision)
        return dataclasses.replace(shipped, gpu_indices=decision.gpu_indices)

    def _place_gang(self, launch: LaunchWork) -> None:
        """Keep a node's launch with the others of its gang's generation, and place them when all are here.

        All are placed at once (each node's launch and the commands that followed it then go to its agent), or all
        wait.
        """
        assert launch.gang is not None
        gang = launch.gang
        self._waiting.setdefault(launch.work_name, []).append(launch)
        members = self._gang_launches(gang, launch)
        if len(members) < gang.size:
            return
        ranked = [members[rank] for rank in range(gang.size)]
        decision = self._decide_gang(gang, ranked)
        shipped = [] if isinstance(decision, Pending) else [
            self._ship_to(self.agents[a.agent_id], m) for a, m in zip(decision, ranked, strict=True)]
        waits = decision if isinstance(decision, Pending) else next(
            (s for s in shipped if isinstance(s, Pending)), None)
        if waits is not None:
            for member in ranked:
                self._note_pending(member, waits.reason, unplaceable=isinstance(decision, Pending))
            return
        assert not isinstance(decision, Pending)
        del self._gangs_waiting[(gang.name, gang.generation)]
        for allocation, ready in zip(decision, shipped, strict=True):
            assert isinstance(ready, LaunchWork)
            member = ready
            self._record_placement(member, allocation)
            follow = [c for c in self._waiting.pop(member.work_name, [])
                      if not (isinstance(c, LaunchWork) and c.attempt == member.attempt)]
            self.agents[allocation.agent_id].outgoing.put_nowait(
                dataclasses.replace(member, gpu_indices=allocation.gpu_indices))
            self.route(follow)
        log.info("gang_placed", gang=gang.name, generation=gang.generation,
                 agents=[self.agents[a.agent_id].name for a in decision])

    def _gang_launches(self, gang: GangSpec, arrived: LaunchWork) -> dict[int, LaunchWork]:
        """The waiting launches of ``gang``'s generation by rank, ``arrived`` among them.

        Kept by gang (no scan of every waiting work per node); a launch no longer waiting (cancelled by a stop, or
        not routed again yet) is left out.
        """
        members = self._gangs_waiting.setdefault((gang.name, gang.generation), {})
        members[gang.rank] = arrived
        for rank, member in list(members.items()):
            if not any(command is member for command in self._waiting.get(member.work_name, ())):
                del members[rank]
        return members

    def _forget_gang_launch(self, gang: GangSpec) -> None:
        """The launch of ``gang``'s node no longer waits (a gang none of whose nodes waits is forgotten)."""
        key = (gang.name, gang.generation)
        members = self._gangs_waiting.get(key, {})
        members.pop(gang.rank, None)
        if not members:
            self._gangs_waiting.pop(key, None)

    def _note_pending(self, launch: LaunchWork, reason: str, unplaceable: bool = True) -> None:
        """``launch`` waits, for ``reason``: the flows are told when the reason changed.

        ``unplaceable``: no connected agent can take it (rather than: its code is being prepared), so that agents on
        demand are asked for it.
        """
        name = launch.work_name
        if unplaceable and name not in self._unplaceable:
            self._unplaceable.add(name)
            self._changed()
        previous = self._pending_reasons.get(name)
        if previous != reason:
            self._pending_reasons[name] = reason
            # Before the first agent registers, waiting is the normal start-up; after that it is said once per wait.
            if self.agents and (previous is None or previous == NO_AGENT_REASON):
                log.warning("work_pending", work_name=name, reason=reason)
            self._report_pending(PlacementPending(name, launch.attempt, reason,
                                                  for_capacity=unplaceable and bool(self.agents)))

    def _record_placement(self, launch: LaunchWork, decision: Allocation) -> None:
        name = launch.work_name
        self._unplaceable.discard(name)
        self._changed()
        self._pending_reasons.pop(name, None)
        self.placements[name] = WorkPlacement(launch.attempt, decision, launch.agent_lost_grace_s)
        self.locations.place(name, launch.attempt, decision.agent_id, frozenset(launch.vars))
        log.info("work_placed", work_name=name, attempt=launch.attempt, agent=self.agents[decision.agent_id].name,
                 gpus=list(decision.gpu_indices))

    def _generation(self) -> tuple[int, int]:
        """Changes whenever room may have grown: a placement released, an agent joined (or left)."""
        return self.placements.releases, self._agents_generation

    def _decide(self, launch: LaunchWork, only: AgentSession | None = None) -> Allocation | Pending:
        """Where ``launch``, a new attempt of its work, goes.

        On agent ``only`` when given (where the placement record has it). What the work's previous attempt holds
        is not in its way.
        """
        previous = self.placements.get(launch.work_name)
        generation = self._generation()
        if generation != self._unfit_generation:
            self._unfit.clear()
            self._unfit_generation = generation
        key = _request_key(launch)
        shared = previous is None and only is None  # the answer holds for every work with this request
        if shared and key in self._unfit:
            return self._unfit[key]
        agents = [only] if only is not None else self.agents.values()
        with self._set_aside([previous] if previous is not None else []):
            decision = place_work(launch.resources, (a.capacity for a in agents), self.placements.holdings,
                                  launch.port)
        if isinstance(decision, Pending) and shared:
            self._unfit[key] = decision
        return decision

    def _decide_gang(self, gang: GangSpec, ranked: list[LaunchWork]) -> list[Allocation] | Pending:
        """Where every node of ``gang`` goes at once (what their previous attempts hold is not in their way)."""
        previous = [p for m in ranked if (p := self.placements.get(m.work_name)) is not None]
        with self._set_aside(previous):
            return place_gang(gang.name, [m.resources for m in ranked], (a.capacity for a in self.agents.values()),
                              self.placements.holdings, gang.pack, [m.port for m in ranked])

    @contextlib.contextmanager
    def _set_aside(self, placements: list[WorkPlacement]) -> Iterator[None]:
        """What ``placements`` hold is free while deciding (and held again after: the book is unchanged)."""
        holdings = self.placements.holdings
        for placement in placements:
            holdings.release(placement.allocation)
        try:
            yield
        finally:
            for placement in placements:
                holdings.hold(placement.allocation)

    def _ship_to(self, agent: AgentSession, launch: LaunchWork) -> LaunchWork | Pending:
        """``launch`` as ``agent`` needs it, with the works' API key.

        For a remote agent it points at the code bundle (or says why it must wait while the bundle is being
        built).
        """
        if self.works_credential:
            launch = dataclasses.replace(launch, api_credential=self.works_credential)
        if agent.capacity.is_local:
            return launch
        if self.bundle is None:
            return Pending("remote agents are not supported by this control plane")
        state = self.bundle.request(on_ready=self._retry_waiting)
        if isinstance(state, str):
            return Pending(state)
        return dataclasses.replace(launch, bundle_digest=state.digest, app_relpath=state.app_relpath)


def _request_key(launch: LaunchWork) -> tuple[object, ...]:
    """What placement looks at in a launch (the same key: the same decision against the same agents)."""
    request = launch.resources
    labels = tuple(sorted(request.labels.items())) if request.labels else ()
    return (request.gpus, request.cpus, request.memory_bytes, labels, launch.port)
