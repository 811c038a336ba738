"""Plain types of the agent's stream besides work events and commands.

Registration, welcome, heartbeats, acknowledgements.

``protos.codec`` converts them to and from protobuf; the control plane's servicer and the agent's session see only
these. Internal to lightning-ctl, like ``sdk._events``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lightning_ctl.sdk._events import RunningWork


@dataclass(frozen=True, slots=True)
class GpuDevice:
    """One GPU an agent offers."""

    index: int
    uuid: str = ""
    name: str = ""
    memory_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Registration:
    """What an agent says about itself as a stream begins."""

    agent_id: str
    """Stable across the agent's restarts; an agent credential belongs to one agent_id."""
    name: str
    hostname: str
    cpus: float
    memory_bytes: int
    gpus: tuple[GpuDevice, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    protocol_version: int = 0
    is_local: bool = False
    """Claimed by lightning-ctl's own local agent; the control plane believes it only when its credential says so."""
    running: tuple[RunningWork, ...] = ()
    """The work processes it runs (after a restart of either side)."""
    advertise_address: str = ""
    """Where other machines reach its works (their ``internal_ip``)."""
    ports: tuple[int, int] | None = None
    """The first and last port its works get (``--ports``); None: any free port."""


@dataclass(frozen=True, slots=True)
class Welcome:
    """The control plane's answer to a registration."""

    session_id: str
    heartbeat_interval_s: float
    agent_credential: str = ""
    """The agent's new credential when it registered with a join token ("" otherwise): kept in the agent's home."""
    max_attribute_bytes: int = 0
    """The largest JSON value a work's attribute may take (0: the protocol's default)."""
    protocol_version: int = 0


@dataclass(frozen=True, slots=True)
class GpuUsage:
    """One GPU's live use, as its agent last measured it (NVML)."""

    index: int
    utilization_percent: float = 0.0
    memory_used_bytes: int = 0
    memory_total_bytes: int = 0


@dataclass(frozen=True, slots=True)
class AgentUsage:
    """An agent machine's live use, sent with each heartbeat (not what works reserved)."""

    cpu_percent: float = 0.0
    memory_used_bytes: int = 0
    gpus: tuple[GpuUsage, ...] = ()


@dataclass(frozen=True, slots=True)
class EventRejected:
    """A work event the control plane refused, and why (the agent logs it; the work's process learns nothing)."""

    work_name: str
    attempt: int
    seq: int
    code: str
    """A gRPC status code name: ``INVALID_ARGUMENT`` (the work fails) or ``PERMISSION_DENIED`` (dropped)."""
    message: str


@dataclass(frozen=True, slots=True)
class RunnerHello:
    """The first message of a work process on its agent's socket (also after reconnecting to a new agent)."""

    work_name: str
    attempt: int
    pid: int
    initialized: bool = False
    """The process already got its init (a reconnection): it must not be sent again."""


@dataclass(frozen=True, slots=True)
class RunnerInit:
    """The first message a work process receives."""

    vars: dict
    """The flow's full view of the work's state attributes."""
    start_action: bool = False
    work_class: str = ""
    init_args: dict | None = None
    max_attribute_bytes: int = 0
    """The largest JSON value an attribute may take (0: the protocol's default)."""


@dataclass(frozen=True, slots=True)
class OpenTunnel:
    """Ask an agent to connect to the server of (work_name, attempt) and open a Tunnel stream for it."""

    tunnel_id: str
    work_name: str
    attempt: int
