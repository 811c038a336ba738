"""AgentRegistry: the connected agents, what they offer, and where each work was placed.

Runs on the I/O (asyncio) thread. Commands for a work go to the agent it was placed on; a launch is placed by the
scheduler, and waits (with its later commands) while no agent fits.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import structlog

from controlplane.scheduler import AgentOffer, place_work
from sdk._events import Command, LaunchWork

log = structlog.get_logger(component="registry")


@dataclass
class AgentSession:
    """One connected agent."""

    agent_id: str
    name: str
    hostname: str
    cpus: float
    memory_bytes: int
    gpu_indices: tuple[int, ...]
    labels: dict[str, str]
    outgoing: asyncio.Queue[Command] = field(default_factory=asyncio.Queue)
    last_heartbeat: float = field(default_factory=time.monotonic)


class AgentRegistry:
    """Tracks agents and routes each work's commands to its agent."""

    def __init__(self) -> None:
        self.agents: dict[str, AgentSession] = {}
        self.placements: dict[str, str] = {}
        self._waiting: dict[str, list[Command]] = {}

    def add(self, session: AgentSession) -> None:
        """An agent registered: place what was waiting."""
        self.agents[session.agent_id] = session
        log.info("agent_connected", agent_id=session.agent_id, name=session.name, cpus=session.cpus,
                 gpus=len(session.gpu_indices))
        waiting, self._waiting = self._waiting, {}
        for commands in waiting.values():
            self.route(commands)

    def remove(self, session: AgentSession) -> None:
        """An agent's stream ended."""
        if self.agents.get(session.agent_id) is session:
            del self.agents[session.agent_id]
            log.info("agent_disconnected", agent_id=session.agent_id, name=session.name)

    def _offers(self) -> list[AgentOffer]:
        works_on: dict[str, int] = {}
        for agent_id in self.placements.values():
            works_on[agent_id] = works_on.get(agent_id, 0) + 1
        return [
            AgentOffer(a.agent_id, a.gpu_indices, a.labels, works_on.get(a.agent_id, 0)) for a in self.agents.values()
        ]

    def route(self, commands: list[Command]) -> None:
        """Send each command to its work's agent, placing launches first."""
        for command in commands:
            name = command.work_name
            if isinstance(command, LaunchWork):
                agent_id = place_work(command, self._offers())
                if agent_id is None:
                    self._waiting.setdefault(name, []).append(command)
                    log.debug("work_waiting_for_agent", work_name=name)
                    continue
                self.placements[name] = agent_id
            elif name in self._waiting:
                self._waiting[name].append(command)
                continue
            agent = self.agents.get(self.placements.get(name, ""))
            if agent is None:
                log.warning("command_dropped", work_name=name, command=type(command).__name__,
                            reason="the work's agent is not connected")
                continue
            agent.outgoing.put_nowait(command)
