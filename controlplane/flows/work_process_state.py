"""WorkProcessState: the control plane's record of one work's current process (attempt), and its checkpoint form.

    launched ─► placement pending ─► started (pid) ─► idle ⇄ calling ─► ... ─► exited
       │                                                │                      ▲
       │                                                └─ idle past timeout ──┤ (a call then launches a new attempt)
       └─ stop requested (by the flow, the app's end) ─────────────────────────┘

Each work's record is saved as its own JSON object (:meth:`to_record`), so a checkpoint may write only the records
that changed; events kept aside by the sequencer are not saved (their process sends them again, unacknowledged).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lightning_ctl.controlplane.flows.sequencing import EventSequencer
from lightning_ctl.sdk._events import LaunchWork, RunCall, launch_from_dict


@dataclass
class WorkProcessState:
    """The control plane's record of a work's current process (attempt)."""

    attempt: int
    pid: int | None = None
    exited: bool = False
    crashed: bool = False
    stop_requested: bool = False
    synced: dict[str, str] = field(default_factory=dict)
    """JSON of each public attribute as both sides last agreed on it."""
    synced_values: dict[str, Any] = field(default_factory=dict)
    """The object each public attribute held when last compared with ``synced`` (not saved): an immutable value
    that is still that very object is unchanged, without encoding it again."""
    next_look: dict[str, float] = field(default_factory=dict)
    """When (the runtime's clock) a large attribute is compared again after a run of the flows (not saved)."""
    sequencer: EventSequencer = field(default_factory=EventSequencer)
    """Applies the events of the work process exactly once, in order."""
    calls_sent: int = 0
    unconfirmed: list[RunCall] = field(default_factory=list)
    """Calls sent but not yet confirmed by a status from the work: sent again after a reconnection."""
    launch: LaunchWork | None = None
    """The launch, kept until the process reports in: sent again if it was lost."""
    running_call: RunCall | None = None
    """The call the process is running: run again by a new process if this one is lost."""
    awaiting_capacity: bool = False
    """Agents are connected but none has room for the launch (not saved: the registry says it again)."""
    idle_timeout_s: float | None = None
    """From the work's CloudCompute: its process is stopped after this long without a call (None: never)."""
    idle_since: float | None = None
    """When (the runtime's clock) the process was first seen idle since its last call (not saved)."""
    idle_stopped: bool = False
    """Stopped for being idle: a call launches a new attempt rather than waiting for this one."""

    @property
    def is_idle(self) -> bool:
        """Whether the process is up with no call running, none sent and unconfirmed, and no stop asked."""
        return (self.pid is not None and not self.exited and not self.stop_requested and self.running_call is None
                and not self.unconfirmed)

    @property
    def applied_seq(self) -> int:
        """Every event of the process up to this seq was applied."""
        return self.sequencer.applied_seq

    def to_record(self) -> dict[str, Any]:
        """This record as JSON-ready data for the checkpoint."""
        return {
            "attempt": self.attempt, "pid": self.pid, "exited": self.exited, "crashed": self.crashed,
            "stop_requested": self.stop_requested, "synced": self.synced, "applied_seq": self.applied_seq,
            "calls_sent": self.calls_sent, "unconfirmed": [dataclasses.asdict(c) for c in self.unconfirmed],
            "launch": dataclasses.asdict(self.launch) if self.launch is not None else None,
            "running_call": dataclasses.asdict(self.running_call) if self.running_call is not None else None,
            "idle_timeout_s": self.idle_timeout_s, "idle_stopped": self.idle_stopped,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WorkProcessState:
        """A record as :meth:`to_record` saved it."""
        fields = dict(record)
        applied_seq = fields.pop("applied_seq", 0)
        unconfirmed = [RunCall(**call) for call in fields.pop("unconfirmed", [])]
        saved_call = fields.pop("running_call", None)
        saved_launch = fields.pop("launch", None)
        return cls(
            **fields,
            sequencer=EventSequencer(applied_seq),
            unconfirmed=unconfirmed,
            launch=launch_from_dict(saved_launch) if saved_launch is not None else None,
            running_call=RunCall(**saved_call) if saved_call is not None else None,
        )
