"""The operator's view of a running app as plain types: what AppService serves and ``client.py`` returns.

No gRPC here: the servicer builds these, ``services/app_codec.py`` turns them into protobuf and back, the CLI
renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lightning_ctl.controlplane.credential_store import IssuedJoinToken
from lightning_ctl.sdk._agent_messages import AgentUsage

__all__ = ["AgentView", "AppView", "IssuedJoinToken", "LogBatch", "LogLine", "RevokedAgent", "WorkView"]


@dataclass(frozen=True, slots=True)
class WorkView:
    """One work: its status, its process and where it runs."""

    work_name: str
    """The full dotted name, e.g. ``root.trainer``."""
    stage: str
    """A ``WorkStageStatus`` value."""
    reason: str = ""
    """Why it is in ``stage`` (a failure or stop reason), or ""."""
    message: str = ""
    """Detail: a pending reason, a traceback, or ""."""
    status_timestamp: float = 0.0
    """Epoch seconds it entered ``stage``; 0 when it never started."""
    started_at: float = 0.0
    """Epoch seconds its latest call started (or began running); 0 when unknown."""
    attempt: int = 0
    """Its process's attempt number; 0 when no process was launched."""
    pid: int = 0
    """That process's pid; 0 when unknown."""
    process_exited: bool = False
    agent_id: str = ""
    """The agent it is placed on; "" when it is not placed."""
    agent_name: str = ""
    gpu_indices: tuple[int, ...] = ()
    """The GPUs it holds on that agent."""
    url: str = ""
    """Where its server answers (``http://<internal_ip>:<port>``), "" until it is ready."""
    proxy_url: str = ""
    """The same server through the app's HTTP address (``.../works/<name>/``), "" until it is ready."""

    @property
    def restarts(self) -> int:
        """How many times its process was started again."""
        return max(0, self.attempt - 1)


@dataclass(frozen=True, slots=True)
class RequestView:
    """An agent asked of an engine (``--provider``): where the request stands."""

    request_id: str
    engine: str
    """"slurm", "kubernetes" or "local"."""
    engine_id: str = ""
    """The engine's id of the job (Slurm job id, Pod name); "" while being submitted."""
    state: str = ""
    """submitting, queued, starting, joined, released, lost or failed."""
    reason: str = ""
    """The engine's reason while it waits (Slurm's ``Priority``/``Resources``), or why it ended."""
    resources: str = ""
    """What was asked for, e.g. "1 GPU, 4 CPUs"."""
    nodes: int = 1
    work_name: str = ""
    """The waiting work it was asked for."""
    created_at: float = 0.0
    """Epoch seconds."""
    where: str = ""
    """The engine's node(s) it runs on, when known."""


@dataclass(frozen=True, slots=True)
class AgentView:
    """One connected agent; "used" is what the works placed on it hold."""

    agent_id: str
    name: str
    hostname: str = ""
    is_local: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    cpus_total: float = 0.0
    cpus_used: float = 0.0
    memory_total_bytes: int = 0
    memory_used_bytes: int = 0
    gpu_indices: tuple[int, ...] = ()
    """Every GPU the agent offers."""
    gpus_used: tuple[int, ...] = ()
    work_names: tuple[str, ...] = ()
    last_heartbeat_age_s: float = 0.0
    """Seconds since its last heartbeat (or since it registered)."""
    state: str = "connected"
    """"connected", or "silent" when a heartbeat is overdue; for an agent requested from an engine that has not
    joined (or is gone), its request's state."""
    usage: AgentUsage | None = None
    """What the machine uses right now (None before its first heartbeat)."""
    request: RequestView | None = None
    """The engine request this agent answers, when a provider started it."""


@dataclass(frozen=True, slots=True)
class AppView:
    """The app's stage, its works and the agents."""

    stage: str
    app_path: str = ""
    pid: int = 0
    """The control plane's pid."""
    works: tuple[WorkView, ...] = ()
    agents: tuple[AgentView, ...] = ()


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line a work wrote, as the control plane received it."""

    work_name: str
    timestamp: float
    """Epoch seconds the control plane received it."""
    stream: str
    """"stdout" or "stderr"."""
    text: str


@dataclass(frozen=True, slots=True)
class LogBatch:
    """Lines of a log stream, and how many were lost just before them because the reader fell behind."""

    lines: tuple[LogLine, ...]
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class RevokedAgent:
    """An agent whose credential was revoked."""

    agent_id: str
    name: str
    was_connected: bool
