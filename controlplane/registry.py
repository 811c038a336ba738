"""AgentRegistry: the connected agents, what is placed on them, and routing each work's commands to its agent.

Runs on the I/O (asyncio) thread. A launch is placed by the scheduler; while no agent fits, the launch and the
commands that follow it wait, the work's status says why, and placement is retried whenever an agent joins or a
work's process exits (freeing what it held).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

import structlog

from controlplane.app_bundle import AppBundle
from controlplane.scheduler import AgentCapacity, Allocation, Pending, place_work
from sdk._events import (
    Command,
    EventsApplied,
    LaunchWork,
    PlacementPending,
    ProcessExited,
    ProcessStarted,
    RunCall,
    StatusChanged,
    StopWork,
    WorkEvent,
)

log = structlog.get_logger(component="registry")


@dataclass
class AgentSession:
    """One connected agent."""

    capacity: AgentCapacity
    hostname: str
    outgoing: asyncio.Queue[Command | EventsApplied] = field(default_factory=asyncio.Queue)
    last_heartbeat: float = field(default_factory=time.monotonic)
    close: Callable[[str], None] = lambda reason: None
    """Ends the agent's stream (set by the servicer)."""

    @property
    def agent_id(self) -> str:
        """The agent's stable identity."""
        return self.capacity.agent_id

    @property
    def name(self) -> str:
        """The agent's display name."""
        return self.capacity.name


@dataclass
class _Placement:
    attempt: int
    allocation: Allocation


class AgentRegistry:
    """Tracks agents and placements, and routes each work's commands to its agent."""

    def __init__(
        self,
        report_pending: Callable[[PlacementPending], None] = lambda pending: None,
        bundle: AppBundle | None = None,
    ) -> None:
        self.bundle = bundle
        self.agents: dict[str, AgentSession] = {}
        self.placements: dict[str, _Placement] = {}
        self._waiting: dict[str, list[Command]] = {}
        self._report_pending = report_pending
        self._pending_reasons: dict[str, str] = {}
        self._inflight: dict[str, list[Command]] = {}
        """Per work: commands its agent may not have carried out yet, sent again when the agent reconnects."""

    def add(self, session: AgentSession) -> None:
        """An agent registered: place what was waiting."""
        previous = self.agents.get(session.agent_id)
        if previous is not None and previous is not session:
            previous.close("replaced by a new session of the same agent")
        self.agents[session.agent_id] = session
        log.info("agent_connected", agent_id=session.agent_id, name=session.name, cpus=session.capacity.cpus,
                 gpus=len(session.capacity.gpu_indices), labels=session.capacity.labels)
        self._resend_inflight(session)
        self._retry_waiting()

    def _resend_inflight(self, session: AgentSession) -> None:
        """Send again what a previous session of this agent may have lost (each command is idempotent)."""
        resent = 0
        for name, commands in self._inflight.items():
            placement = self.placements.get(name)
            if placement is not None and placement.allocation.agent_id == session.agent_id:
                for command in commands:
                    session.outgoing.put_nowait(command)
                    resent += 1
        if resent:
            log.info("commands_resent", agent=session.name, count=resent)

    def observe(self, event: WorkEvent) -> None:
        """Forget in-flight commands an event proves were carried out."""
        commands = self._inflight.get(event.work_name)
        if not commands:
            return
        body = event.body
        if isinstance(body, ProcessExited):
            self._inflight.pop(event.work_name, None)
        elif isinstance(body, ProcessStarted):
            commands[:] = [c for c in commands if not isinstance(c, LaunchWork)]
        elif isinstance(body, StatusChanged):
            for index, command in enumerate(commands):
                if isinstance(command, RunCall) and command.call_hash == body.call_hash:
                    del commands[index]
                    break

    def remove(self, session: AgentSession, reason: str) -> None:
        """An agent's stream ended."""
        if self.agents.get(session.agent_id) is session:
            del self.agents[session.agent_id]
            log.info("agent_disconnected", agent_id=session.agent_id, name=session.name, reason=reason)

    def release(self, work_name: str, attempt: int) -> None:
        """The process of (work_name, attempt) exited: free what it held and place what was waiting."""
        placement = self.placements.get(work_name)
        if placement is not None and placement.attempt == attempt:
            del self.placements[work_name]
            self._retry_waiting()

    def close_all(self, reason: str) -> None:
        """End every agent's stream (the control plane is shutting down)."""
        for session in list(self.agents.values()):
            session.close(reason)

    def check_liveness(self, timeout_s: float) -> None:
        """End the streams of agents whose last heartbeat is older than ``timeout_s``."""
        now = time.monotonic()
        for session in list(self.agents.values()):
            silent_s = now - session.last_heartbeat
            if silent_s > timeout_s:
                self.remove(session, f"no heartbeat for {silent_s:.1f}s")
                session.close(f"no heartbeat for {silent_s:.1f}s")

    def _retry_waiting(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for commands in waiting.values():
            self.route(commands)

    def route(self, commands: list[Command | EventsApplied]) -> None:
        """Send each command to its work's agent, placing launches first."""
        for command in commands:
            name = command.work_name
            if isinstance(command, EventsApplied):
                placement = self.placements.get(name)
                agent = self.agents.get(placement.allocation.agent_id) if placement else None
                if agent is not None:
                    agent.outgoing.put_nowait(command)
                continue
            if isinstance(command, LaunchWork):
                command = self._place(command)
                if command is None:
                    continue
            elif name in self._waiting:
                self._waiting[name].append(command)
                continue
            placement = self.placements.get(name)
            agent = self.agents.get(placement.allocation.agent_id) if placement else None
            if isinstance(command, (LaunchWork, RunCall, StopWork)):
                self._inflight.setdefault(name, []).append(command)
            if agent is None:
                log.info("command_deferred", work_name=name, command=type(command).__name__,
                         reason="the work's agent is not connected; sent when it reconnects")
                continue
            agent.outgoing.put_nowait(command)

    def _place(self, launch: LaunchWork) -> LaunchWork | None:
        name = launch.work_name
        others = [p.allocation for n, p in self.placements.items() if n != name]
        decision = place_work(launch.resources, (a.capacity for a in self.agents.values()), others)
        if isinstance(decision, Pending):
            self._waiting.setdefault(name, []).append(launch)
            if self._pending_reasons.get(name) != decision.reason:
                self._pending_reasons[name] = decision.reason
                if self.agents:  # before the first agent registers, waiting is the normal start-up
                    log.warning("work_pending", work_name=name, reason=decision.reason)
                self._report_pending(PlacementPending(name, launch.attempt, decision.reason))
            return None
        agent = self.agents[decision.agent_id]
        if not agent.capacity.is_local:
            shipped = self._with_bundle(launch)
            if isinstance(shipped, Pending):
                self._waiting.setdefault(name, []).append(launch)
                self._report_pending(PlacementPending(name, launch.attempt, shipped.reason))
                return None
            launch = shipped
        self._pending_reasons.pop(name, None)
        self.placements[name] = _Placement(launch.attempt, decision)
        log.info("work_placed", work_name=name, attempt=launch.attempt, agent=agent.name,
                 gpus=list(decision.gpu_indices))
        return dataclasses.replace(launch, gpu_indices=decision.gpu_indices)

    def _with_bundle(self, launch: LaunchWork) -> LaunchWork | Pending:
        """``launch`` pointing at the app's code bundle, or why it must wait (the bundle is being built)."""
        if self.bundle is None:
            return Pending("remote agents are not supported by this control plane")
        state = self.bundle.request(on_ready=self._retry_waiting)
        if isinstance(state, str):
            return Pending(state)
        return dataclasses.replace(launch, bundle_digest=state.digest, app_relpath=state.app_relpath)
