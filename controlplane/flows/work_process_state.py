"""WorkProcessState: the control plane's record of one work's current process (attempt), and its checkpoint form.

    launched ─► placement pending ─► started (pid) ─► idle ⇄ calling ─► ... ─► exited
       │                                                │                      ▲
       │                                                └─ idle past timeout ──┤ (a call then launches a new attempt)
       └─ stop requested (by the flow, the app's end) ─────────────────────────┘

Commands for the process (calls and attribute updates) are numbered per attempt from 1 (``command_seq``): the
process applies each number once, in order, so a command sent again after a reconnection or a restart of the
control plane is never applied twice. A command stays ``unconfirmed`` until the process shows it has it (a call's
status, the echo of an update), and is sent again after every reconnection until then.

Each work's record is saved as its own JSON object (:meth:`to_record`), so a checkpoint writes only the records that
changed; what the sequencer keeps aside is not saved (the process sends it again, unacknowledged), nor ``synced``
(rebuilt from the restored attributes: every update the work may lack is among the unconfirmed commands).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Union

from lightning_ctl.controlplane.flows.sequencing import EventSequencer
from lightning_ctl.sdk._events import LaunchWork, RunCall, UpdateVars, launch_from_dict

WorkCommand = Union[RunCall, UpdateVars]
"""A numbered command for a work process."""


@dataclass
class WorkProcessState:
    """The control plane's record of a work's current process (attempt)."""

    attempt: int
    pid: int | None = None
    exited: bool = False
    crashed: bool = False
    stop_requested: bool = False
    synced: dict[str, Any] = field(default_factory=dict)
    """A snapshot (``snapshots.py``) of each public attribute as both sides last agreed on it."""
    sequencer: EventSequencer = field(default_factory=EventSequencer)
    """Applies the events of the work process exactly once, in order."""
    commands_sent: int = 0
    """The ``command_seq`` of the last command numbered for this process."""
    unconfirmed: list[WorkCommand] = field(default_factory=list)
    """Commands sent and not yet confirmed by the work, in ``command_seq`` order: sent again after a reconnection."""
    launch: LaunchWork | None = None
    """The launch, kept until the process reports in: sent again if it was lost."""
    running_call: RunCall | None = None
    """The call the process is running: run again by a new process if this one is lost."""
    restarts: int = 0
    """How many times the work's restart policy started a new process (over the life of the app)."""
    awaiting_capacity: bool = False
    """Agents are connected but none has room for the launch (not saved: the registry says it again)."""
    idle_timeout_s: float | None = None
    """From the work's CloudCompute: its process is stopped after this long without a call (None: never)."""
    idle_since: float | None = None
    """When (the runtime's clock) the process was first seen idle since its last call (not saved)."""
    idle_stopped: bool = False
    """Stopped for being idle: a call launches a new attempt rather than waiting for this one."""
    readiness_message: str = ""
    """Why its server is not ready, as its agent last said (not saved: the agent says it again)."""
    restored: bool = False
    """Taken back from a checkpoint, and not heard of since (not saved): if its process turns out gone, it went with
    the control plane's machine and is started again whatever the restart policy."""
    gang_generation: int = 0
    """For a node of a gang: the generation (placement) of the gang this process belongs to (0: not a node)."""
    held: list[RunCall] = field(default_factory=list)
    """A node's calls waiting for its gang's rendezvous (node 0's address) before they are sent (not numbered yet)."""
    gang_call: RunCall | None = None
    """A node's latest call sent in its gang's generation: run again by the next generation if the gang restarts,
    even when it succeeded (a gang's call succeeds only when all its nodes' calls do in one generation)."""
    gang_stopped: bool = False
    """Stopped because its gang ended (a node failed or was lost): its exit changes nothing more."""

    @property
    def is_idle(self) -> bool:
        """Whether the process is up with no call running, none sent and unconfirmed, and no stop asked."""
        return (self.pid is not None and not self.exited and not self.stop_requested and self.running_call is None
                and not any(isinstance(command, RunCall) for command in self.unconfirmed))

    @property
    def applied_seq(self) -> int:
        """Every event of the process up to this seq was applied."""
        return self.sequencer.applied_seq

    def next_command_seq(self) -> int:
        """The number of the next command for this process."""
        self.commands_sent += 1
        return self.commands_sent

    def confirm_call(self, call_hash: str) -> RunCall | None:
        """The process reported a status of call ``call_hash``: it has the call, and every command before it."""
        for index, command in enumerate(self.unconfirmed):
            if isinstance(command, RunCall) and command.call_hash == call_hash:
                del self.unconfirmed[index]
                self.confirm_updates(command.command_seq)
                return command
        return None

    def confirm_updates(self, up_to_seq: int) -> None:
        """The process has applied every command up to ``up_to_seq``: no update up to there goes again."""
        self.unconfirmed = [c for c in self.unconfirmed if isinstance(c, RunCall) or c.command_seq > up_to_seq]

    @property
    def calls_to_rerun(self) -> list[RunCall]:
        """The calls a new process must run if this one is lost: the running one, then those not started."""
        calls = [c for c in self.unconfirmed if isinstance(c, RunCall)]
        return [self.running_call, *calls] if self.running_call is not None else calls

    def to_record(self) -> dict[str, Any]:
        """This record as JSON-ready data for the checkpoint."""
        return {
            "attempt": self.attempt, "pid": self.pid, "exited": self.exited, "crashed": self.crashed,
            "stop_requested": self.stop_requested, "applied_seq": self.applied_seq,
            "commands_sent": self.commands_sent, "unconfirmed": [_command_record(c) for c in self.unconfirmed],
            "launch": dataclasses.asdict(self.launch) if self.launch is not None else None,
            "running_call": _shallow(self.running_call) if self.running_call is not None else None,
            "restarts": self.restarts, "idle_timeout_s": self.idle_timeout_s, "idle_stopped": self.idle_stopped,
            "gang_generation": self.gang_generation, "held": [_shallow(c) for c in self.held],
            "gang_stopped": self.gang_stopped,
            "gang_call": _shallow(self.gang_call) if self.gang_call is not None else None,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WorkProcessState:
        """A record as :meth:`to_record` saved it."""
        fields = dict(record)
        applied_seq = fields.pop("applied_seq", 0)
        unconfirmed = [_command_from_record(c) for c in fields.pop("unconfirmed", [])]
        held = [RunCall(**call) for call in fields.pop("held", [])]
        gang_call = fields.pop("gang_call", None)
        saved_call = fields.pop("running_call", None)
        saved_launch = fields.pop("launch", None)
        return cls(
            **fields,
            sequencer=EventSequencer(applied_seq),
            unconfirmed=unconfirmed,
            held=held,
            gang_call=RunCall(**gang_call) if gang_call is not None else None,
            launch=launch_from_dict(saved_launch) if saved_launch is not None else None,
            running_call=RunCall(**saved_call) if saved_call is not None else None,
        )


def _shallow(command: WorkCommand) -> dict[str, Any]:
    """A command's fields (its values are JSON already: no deep copy, on the call path)."""
    return {f.name: getattr(command, f.name) for f in dataclasses.fields(command)}


def _command_record(command: WorkCommand) -> dict[str, Any]:
    return {"update" if isinstance(command, UpdateVars) else "call": _shallow(command)}


def _command_from_record(record: dict[str, Any]) -> WorkCommand:
    if "update" in record:
        return UpdateVars(**record["update"])
    return RunCall(**record["call"])
