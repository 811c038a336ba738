"""What every engine provider offers: the request for an agent, the engine's view of it, and the interface.

A provider turns an :class:`AgentSpec` ("an agent with 2 GPUs, 8 CPUs and 32 GiB, on nodes labelled zone=a")
into one job of its engine (a Slurm job, a Kubernetes Pod; an Indexed Job for a gang of N nodes), reports what the
engine says about those jobs, and ends them. It never decides *when* to ask: that is ``planner.py``'s job.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from lightning_ctl.controlplane.agents.placement import describe
from lightning_ctl.sdk._events import ResourceRequest

RESERVED_LABEL_PREFIX = "lightning-ctl/"
"""Labels under this prefix are the control plane's own: never a work's placement constraint."""


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """What one request asks its engine for: a node (or ``nodes`` nodes, for a gang) with these resources."""

    resources: ResourceRequest = field(default_factory=ResourceRequest)
    """Per node: GPUs, CPUs, memory and the labels the agent must carry."""
    nodes: int = 1
    """How many nodes, each running one agent (a MultiNode gang is one request of N nodes)."""

    def describe(self) -> str:
        """A short human form, e.g. "1 GPU, 4 CPUs, zone=a" or "2 nodes x 8 GPUs"."""
        text = describe(self.resources)
        if self.resources.image:
            text += f", image {self.resources.image}"
        return f"{self.nodes} nodes x {text}" if self.nodes > 1 else text


@dataclass(frozen=True, slots=True)
class AgentLaunch:
    """One request as an engine needs it: the spec, and how its agent joins the control plane."""

    request_id: str
    spec: AgentSpec
    control_plane: str
    """HOST:PORT the agent dials."""
    join_token: str
    """The credential the agent presents once (kept out of command lines: env var or Secret)."""
    agent_args: tuple[str, ...]
    """``lightning-agent`` arguments every engine passes (address, labels, stop behaviour), see ``agent_command``."""


class EngineState(str, enum.Enum):
    """Where a job is, as its engine says."""

    QUEUED = "queued"
    """Waiting in the engine's queue (priority, resources, quota)."""
    RUNNING = "running"
    """Started by the engine: its agent is starting or has joined."""
    GONE = "gone"
    """Ended (completed, cancelled, preempted, failed) or unknown to the engine."""


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """What the engine says about one job."""

    state: EngineState
    reason: str = ""
    """The engine's own words: Slurm's ``Priority``/``Resources``, a Pod's ``Unschedulable: 0/3 nodes ...``."""
    where: str = ""
    """The node(s) it runs on, when known."""


class Provider(Protocol):
    """One engine's side of agents on demand. Every method may be called again after a control-plane restart."""

    engine: str
    """The engine's name, as given to ``--provider``."""

    async def submit(self, launch: AgentLaunch) -> str:
        """Ask the engine for the agent(s) of ``launch``; the engine's id of the job.

        Raises:
            ProviderError: the engine refused it (the message is the engine's).
        """
        ...

    async def poll(self, engine_ids: Sequence[str]) -> dict[str, EngineStatus]:
        """The engine's view of these jobs, in as few engine calls as possible (one, for Slurm and Kubernetes).

        An id the engine no longer knows is reported GONE.

        Raises:
            ProviderError: the engine could not be asked (nothing is concluded about the jobs then).
        """
        ...

    async def release(self, engine_ids: Sequence[str]) -> None:
        """End these jobs (their agents get SIGTERM and drain); ids already gone are fine.

        Raises:
            ProviderError: the engine could not be asked.
        """
        ...

    def close(self) -> None:
        """Free what the provider holds (clients, temporary files)."""
        ...
