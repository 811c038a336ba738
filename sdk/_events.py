"""Plain types that cross processes: what works report (events) and what flows ask for (commands).

The control plane, the agent and the work runner all speak these; ``protos.codec`` turns them into protobuf
messages at the edges. They are internal to lightning-ctl, not part of the app author's API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True, slots=True)
class VarsChanged:
    """Public attributes of the work took new values."""

    values: dict[str, Any]
    command_seq: int = 0
    """When the change echoes the flow's update with this ``command_seq``: the work applied it (and every command
    before it); 0 otherwise."""


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """A call of the work reached a new status (a dict as made by ``make_status``)."""

    call_hash: str
    status: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LinesLogged:
    """The work process wrote lines to stdout or stderr."""

    stream: str  # "stdout" or "stderr"
    lines: tuple[str, ...]
    offset: int = 0
    """Byte offset of the first line in the work's capture file for this stream."""
    end_offset: int = 0
    """Byte offset just past the last line (what the next batch starts at)."""


@dataclass(frozen=True, slots=True)
class ProcessStarted:
    """The work process is up."""

    pid: int


@dataclass(frozen=True, slots=True)
class ProcessExited:
    """The work process ended, with an exit code or killed by a signal (or its agent could not start it)."""

    pid: int
    exit_code: int
    signal: int = 0
    reason: str = ""
    """Why its agent could not start it (its code could not be fetched, fork or exec failed); "" once it ran."""

    def describe(self) -> str:
        """A human reason, e.g. "exited with code 3" or "killed by signal 9 (SIGKILL)"."""
        if self.reason:
            return f"could not be started: {self.reason}"
        if self.signal:
            import signal as signals

            try:
                name = signals.Signals(self.signal).name
            except ValueError:
                name = "unknown"
            return f"killed by signal {self.signal} ({name})"
        return f"exited with code {self.exit_code}"


@dataclass(frozen=True, slots=True)
class WorkCrashed:
    """``run`` raised and ``on_exception`` re-raised: the work's failure must fail the app."""

    traceback: str


@dataclass(frozen=True, slots=True)
class InvalidEvent:
    """The work's events broke the protocol's rules: the work fails with ``reason``, its process stopped.

    For instance a value that does not decode, a private or undeclared attribute, an oversized value or
    message.
    """

    reason: str


@dataclass(frozen=True, slots=True)
class WorkEndpoint:
    """Where the work's server is, as its agent gave it.

    Reported by the agent before the process starts, and again whenever it changes. What the flow reads as ``host``, ``port``, ``internal_ip`` and ``url``.
    """

    host: str
    """The address the work's server should bind."""
    port: int
    internal_ip: str
    """The agent's advertised address: where other machines reach the work."""
    url: str = ""
    """``http://<internal_ip>:<port>`` once the port accepts connections (or the readiness path answers 2xx)."""
    message: str = ""
    """Why it is not ready yet (works with a readiness path only), or ""."""
    error: str = ""
    """The agent could not give the work its port (no process runs): the work fails with this."""


EventBody = Union[
    VarsChanged, StatusChanged, LinesLogged, ProcessStarted, ProcessExited, WorkCrashed, InvalidEvent, WorkEndpoint
]


@dataclass(frozen=True, slots=True)
class WorkEvent:
    """One event of one attempt of a work, numbered by its sender."""

    work_name: str
    attempt: int
    seq: int
    """Numbers the work process's events from 1; 0 for events the agent observed itself (idempotent)."""
    body: EventBody
    first_seq: int = 0
    """For a change merged from several: the first seq it covers (0: just ``seq``)."""

    @property
    def cause(self) -> str:
        """Names this event in what it causes (commands, log lines), e.g. "StatusChanged root.w#1 seq 5"."""
        where = f"{type(self.body).__name__} {self.work_name}#{self.attempt}"
        return f"{where} seq {self.seq}" if self.seq else where


@dataclass(frozen=True, slots=True)
class ResourceRequest:
    """What a work needs from the agent it is placed on (zero: no particular amount)."""

    gpus: int = 0
    cpus: float = 0.0
    memory_bytes: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    image: str = ""
    """The container image the work asks for (``BuildConfig(image=...)``), for providers that start agents in
    containers; placement ignores it."""


@dataclass(frozen=True, slots=True)
class GangSpec:
    """The gang a launch belongs to: the control plane places the launches of one generation all at once."""

    name: str
    """The gang's name (the MultiNode flow's full name)."""
    size: int
    rank: int
    generation: int
    """Counts the gang's placements from 1: a gang placed again after a failure is a new generation."""
    pack: bool = False
    """Whether several nodes may share an agent (else one node per agent)."""


@dataclass(frozen=True, slots=True)
class LaunchWork:
    """Start a process for (work_name, attempt)."""

    work_name: str
    attempt: int
    app_path: str
    vars: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    start_action: bool = False
    stop_grace_s: float = 30.0
    work_class: str = ""
    init_args: dict[str, Any] | None = None
    gpu_indices: tuple[int, ...] = ()
    bundle_digest: str = ""
    """The code bundle to run from (remote agents); "" when the agent shares the control plane's files."""
    app_relpath: str = ""
    """The app file's path inside the bundle."""
    resources: ResourceRequest = field(default_factory=ResourceRequest)
    """For placement by the control plane; not sent to the agent (it gets ``gpu_indices``)."""
    agent_lost_grace_s: float | None = None
    """How long the work's agent may be away before the work counts as lost (None: the app's setting)."""
    cause: str = field(default="", compare=False)
    """What made the control plane send it (a flow's action, an event): for logs, never sent to agents."""
    api_credential: str = field(default="", repr=False)
    """The work's key to the app's own HTTP API (added by the control plane as it ships the launch): for the work
    process alone, never kept in the agent's environment, its fork server or its records."""
    port: int = 0
    """The port the work asked for (``LightningWork(port=...)``); 0: its agent allocates one."""
    readiness_path: str = ""
    """An HTTP path that must answer 2xx before the work counts as ready; "": its port accepting a connection."""
    rendezvous: bool = False
    """A gang's node: its port belongs to the gang's rendezvous (node 0's is ``MASTER_PORT``), so its agent never
    probes it and it gets no ``url``."""
    gang: GangSpec | None = None
    """For placement, when the work is a node of a gang; not sent to the agent."""


def launch_from_dict(data: dict[str, Any]) -> LaunchWork:
    """A LaunchWork from ``dataclasses.asdict`` of one (as stored in checkpoints and agent homes)."""
    fields = dict(data)
    fields["resources"] = ResourceRequest(**fields.get("resources", {}))
    fields["gpu_indices"] = tuple(fields.get("gpu_indices", ()))
    if fields.get("gang") is not None:
        fields["gang"] = GangSpec(**fields["gang"])
    return LaunchWork(**fields)


@dataclass(frozen=True, slots=True)
class RunCall:
    """Run one call; ``vars`` holds the flow's changes to the work's attributes not yet sent to it."""

    work_name: str
    attempt: int
    call_hash: str
    args: list[Any]
    kwargs: dict[str, Any]
    vars: dict[str, Any] = field(default_factory=dict)
    command_seq: int = 0
    """Numbers the commands (calls and updates) of (work_name, attempt) from 1: the work applies each number once,
    in order, so that a call delivered twice runs once."""
    cause: str = field(default="", compare=False)
    """What made the control plane send it (a flow's action, an event): for logs, never sent to agents."""
    api_credential: str = field(default="", repr=False)
    """The work's key to the app's own HTTP API (added by the control plane as it ships the launch): for the work
    process alone, never kept in the agent's environment, its fork server or its records."""


@dataclass(frozen=True, slots=True)
class UpdateVars:
    """The flow changed public attributes of a running work."""

    work_name: str
    attempt: int
    vars: dict[str, Any]
    command_seq: int = 0
    """Numbered with the calls (see ``RunCall.command_seq``)."""
    cause: str = field(default="", compare=False)
    """What made the control plane send it (a flow's action, an event): for logs, never sent to agents."""
    api_credential: str = field(default="", repr=False)
    """The work's key to the app's own HTTP API (added by the control plane as it ships the launch): for the work
    process alone, never kept in the agent's environment, its fork server or its records."""


@dataclass(frozen=True, slots=True)
class StopWork:
    """Stop the process of (work_name, attempt): SIGTERM, then SIGKILL after ``grace_s``."""

    work_name: str
    attempt: int
    reason: str
    grace_s: float
    cause: str = field(default="", compare=False)
    """What made the control plane send it (a flow's action, an event): for logs, never sent to agents."""
    api_credential: str = field(default="", repr=False)
    """The work's key to the app's own HTTP API (added by the control plane as it ships the launch): for the work
    process alone, never kept in the agent's environment, its fork server or its records."""


@dataclass(frozen=True, slots=True)
class PlacementPending:
    """No agent can run (work_name, attempt) yet; it stays pending for ``reason``."""

    work_name: str
    attempt: int
    reason: str
    for_capacity: bool = False
    """Agents are connected but none has room for it (rather than: no agent yet, or its code being prepared)."""

    @property
    def cause(self) -> str:
        """Names this report in what it causes."""
        return f"placement_pending {self.work_name}#{self.attempt}"


@dataclass(frozen=True, slots=True)
class RunningWork:
    """A work process an agent reports running when it (re)connects."""

    work_name: str
    attempt: int
    pid: int
    gpu_indices: tuple[int, ...] = ()
    port: int = 0
    """The port its agent gave it (0: unknown)."""


@dataclass(frozen=True, slots=True)
class AgentConnected:
    """An agent started a session; these are the work processes it runs."""

    agent_id: str
    running: tuple[RunningWork, ...]
    expected: tuple[tuple[str, int], ...] = ()
    """The (work, attempt) the control plane had placed on this agent: those it does not run any more are lost."""

    @property
    def cause(self) -> str:
        """Names this connection in what it causes."""
        return f"agent_connected {self.agent_id}"


@dataclass(frozen=True, slots=True)
class WorkLost:
    """The agent running (work_name, attempt) has been disconnected past the work's grace period."""

    work_name: str
    attempt: int
    reason: str

    @property
    def cause(self) -> str:
        """Names this loss in what it causes."""
        return f"work_lost {self.work_name}#{self.attempt}"


@dataclass(frozen=True, slots=True)
class WorkUnreachable:
    """A stop of (work_name, attempt) cannot reach its process: the agent running it is not connected."""

    work_name: str
    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class OutputShown:
    """The control plane has shown (work_name, attempt)'s output up to these byte offsets."""

    work_name: str
    attempt: int
    stdout_offset: int
    stderr_offset: int


@dataclass(frozen=True, slots=True)
class EventsApplied:
    """The control plane applied every event of (work_name, attempt) up to ``seq``."""

    work_name: str
    attempt: int
    seq: int


Command = Union[LaunchWork, RunCall, UpdateVars, StopWork]
