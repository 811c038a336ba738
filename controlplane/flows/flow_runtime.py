"""FlowRuntime: what the control plane plugs into the SDK, and how work events change the flows' view.

Runs on the flow thread only. Flow-side actions (calls, starts, stops) become commands collected during a tick;
work events (attribute changes, statuses, exits) are applied to the flows' copy of each work. Each work's
attributes are kept in sync both ways: the work streams every change; after each tick the flow's own changes to
a running work's public attributes are sent to it (and each call carries those not sent yet).
"""

from __future__ import annotations

import dataclasses
import json
import signal
from dataclasses import dataclass, field
from typing import Any, Callable

import structlog

from lightning_ctl.sdk._calls import apply_status
from lightning_ctl.sdk._component import to_json
from lightning_ctl.sdk._events import (
    AgentConnected,
    Command,
    EventsApplied,
    LaunchWork,
    PlacementPending,
    ProcessExited,
    ProcessStarted,
    ResourceRequest,
    RunCall,
    StatusChanged,
    StopWork,
    UpdateVars,
    VarsChanged,
    WorkCrashed,
    WorkEvent,
    launch_from_dict,
)
from lightning_ctl.sdk._hashing import START_CALL_HASH
from lightning_ctl.sdk._runtime import Runtime
from lightning_ctl.sdk._status import WorkFailureReasons, WorkStageStatus, WorkStopReasons, make_status
from lightning_ctl.sdk._work import LightningWork


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
    applied_seq: int = 0
    """The last event of the work process applied; events are applied exactly once, in order."""
    early: dict[int, WorkEvent] = field(default_factory=dict)
    """Events that arrived ahead of a gap (lost in flight and being sent again), by their first seq."""
    calls_sent: int = 0
    unconfirmed: list[RunCall] = field(default_factory=list)
    """Calls sent but not yet confirmed by a status from the work: sent again after a reconnection."""
    launch: LaunchWork | None = None
    """The launch, kept until the process reports in: sent again if it was lost."""
    running_call: RunCall | None = None
    """The call the process is running: run again by a new process if this one is lost."""


@dataclass(frozen=True)
class AppFailure:
    """A work failed the app: its name and the message to show."""

    work_name: str
    message: str


class FlowRuntime(Runtime):
    """Turns flow-side actions into commands and work events into state."""

    def __init__(self, app_path: str, env: dict[str, str], stop_grace_s: float) -> None:
        self.app_path = app_path
        self.env = env
        self.stop_grace_s = stop_grace_s
        self.works: dict[str, WorkProcessState] = {}
        self.commands: list[Command] = []
        self.failure: AppFailure | None = None
        self._applied: dict[tuple[str, int], int] = {}

    # -- SDK hooks (flow thread, during a tick) -------------------------------------------------------------------

    def dispatch_call(self, work: LightningWork, call_hash: str, args: tuple, kwargs: dict) -> None:
        process = self._ensure_process(work, start_action=False)
        process.calls_sent += 1
        call = RunCall(work.name, process.attempt, call_hash, list(args), dict(kwargs), self._unsent_changes(work),
                       call_seq=process.calls_sent)
        process.unconfirmed.append(call)
        self.commands.append(call)

    def start_work(self, work: LightningWork) -> None:
        self._ensure_process(work, start_action=True)

    def stop_work(self, work: LightningWork) -> None:
        process = self.works.get(work.name)
        if process is None or process.exited:
            return
        process.stop_requested = True
        self.commands.append(StopWork(work.name, process.attempt, "stopped by the flow", self.stop_grace_s))

    # -- commands -------------------------------------------------------------------------------------------------

    def _ensure_process(self, work: LightningWork, start_action: bool) -> WorkProcessState:
        process = self.works.get(work.name)
        if process is not None and not process.exited:
            return process
        attempt = process.attempt + 1 if process else 1
        values = _sendable_vars(work)
        process = WorkProcessState(attempt, synced={n: to_json(v) for n, v in values.items() if not n.startswith("_")})
        self.works[work.name] = process
        process.launch = (
            LaunchWork(
                work_name=work.name,
                attempt=attempt,
                app_path=self.app_path,
                vars=values,
                env=self.env,
                start_action=start_action,
                stop_grace_s=self.stop_grace_s,
                work_class=f"{type(work).__module__}:{type(work).__qualname__}",
                init_args=_init_args(work),
                resources=resource_request(work),
                agent_lost_grace_s=work.restart_policy.agent_lost_grace_s,
            )
        )
        self.commands.append(process.launch)
        return process

    def _unsent_changes(self, work: LightningWork) -> dict[str, Any]:
        """The public attributes the flow changed since the work last saw them (and mark them seen)."""
        process = self.works[work.name]
        changes = {}
        for name, value in work._public_vars().items():
            encoded = to_json(value)
            if process.synced.get(name) != encoded:
                process.synced[name] = encoded
                changes[name] = value
        return changes

    def sync_running_works(self, works: list[LightningWork]) -> bool:
        """Queue the flow's changes to running works' attributes; whether there were any."""
        changed = False
        for work in works:
            process = self.works.get(work.name)
            if process is None or process.exited:
                continue
            changes = self._unsent_changes(work)
            if changes:
                self.commands.append(UpdateVars(work.name, process.attempt, changes))
                changed = True
        return changed

    def on_agent_connected(
        self, connected: AgentConnected, find_work: Callable[[str], LightningWork | None]
    ) -> None:
        """An agent (re)connected: stop its stale work processes, send again what its works may have missed.

        A process whose attempt is not the work's current one was replaced while its agent was away: it is
        stopped, so that a work never runs twice at once. Every command is idempotent on the agent's side.
        """
        for running in connected.running:
            process = self.works.get(running.work_name)
            if process is None or process.attempt != running.attempt or process.exited:
                self.commands.append(
                    StopWork(running.work_name, running.attempt, "a newer attempt replaced it", self.stop_grace_s)
                )
                continue
            process.pid = process.pid or running.pid
            process.launch = None
            self.commands.extend(process.unconfirmed)
            if process.stop_requested:
                self.commands.append(StopWork(running.work_name, process.attempt, "stop", self.stop_grace_s))
        reported = {r.work_name for r in connected.running}
        for name, attempt in connected.expected:
            process = self.works.get(name)
            work = find_work(name)
            if (process is not None and work is not None and process.attempt == attempt and not process.exited
                    and process.pid is not None and name not in reported):
                # The agent came back without it (its record was lost): the process is gone from our view.
                process.exited = True
                self._process_lost(work, process, f"the agent no longer runs the process of work {name}",
                                   WorkFailureReasons.PROCESS_EXITED.value)
        for name, process in self.works.items():
            if process.launch is not None and name not in reported:
                self.commands.append(process.launch)  # may have been lost with a previous session
                self.commands.extend(process.unconfirmed)

    def snapshot(self) -> dict[str, Any]:
        """The record of work processes, as JSON-ready data for the checkpoint."""
        return {
            name: {
                "attempt": p.attempt, "pid": p.pid, "exited": p.exited, "crashed": p.crashed,
                "stop_requested": p.stop_requested, "synced": p.synced, "applied_seq": p.applied_seq,
                "calls_sent": p.calls_sent, "unconfirmed": [dataclasses.asdict(c) for c in p.unconfirmed],
                "launch": dataclasses.asdict(p.launch) if p.launch is not None else None,
                "running_call": dataclasses.asdict(p.running_call) if p.running_call is not None else None,
            }
            for name, p in self.works.items()
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Take back the record of work processes from a checkpoint."""
        for name, fields in saved.items():
            unconfirmed = [RunCall(**call) for call in fields.pop("unconfirmed", [])]
            saved_call = fields.pop("running_call", None)
            fields["running_call"] = RunCall(**saved_call) if saved_call is not None else None
            saved_launch = fields.pop("launch", None)
            launch = launch_from_dict(saved_launch) if saved_launch is not None else None
            self.works[name] = WorkProcessState(**fields, unconfirmed=unconfirmed, launch=launch)

    def take_commands(self) -> list[Command]:
        """The commands collected since the last call."""
        commands, self.commands = self.commands, []
        return commands

    def stop_all(self, reason: str, grace_s: float) -> list[str]:
        """Queue a stop for every work launched and not exited; the names of those known to be running.

        A work still starting gets the stop too (its agent applies it once the process exists), but only works
        whose process reported in are worth waiting for: one never placed on an agent has no process to wait for.
        """
        names = []
        for name, process in self.works.items():
            if not process.exited:
                process.stop_requested = True
                self.commands.append(StopWork(name, process.attempt, reason, grace_s))
                if process.pid is not None:
                    names.append(name)
        return names

    # -- events (flow thread, between ticks) ----------------------------------------------------------------------

    def apply_event(self, work: LightningWork, event: WorkEvent) -> bool:
        """Apply an event of ``work`` exactly once and in order; whether the flows should run again.

        Events of the work process are numbered: one already applied is dropped, one ahead of a gap waits for the
        gap to be filled (the process sends everything unacknowledged again after a reconnection).
        """
        process = self.works.get(event.work_name)
        if process is None or process.attempt != event.attempt:
            return False  # a stale attempt's event
        if event.seq == 0:  # observed by the agent: idempotent
            return self._apply_body(work, process, event)
        changed = False
        for ready in self._in_order(process, event):
            changed |= self._apply_body(work, process, ready)
        self._applied[(event.work_name, event.attempt)] = process.applied_seq
        return changed

    @property
    def has_unsent_acks(self) -> bool:
        """Whether events were applied since the last ``take_acks``."""
        return bool(self._applied)

    def take_acks(self) -> list[EventsApplied]:
        """What was applied since the last call, as one cumulative acknowledgement per work attempt."""
        applied, self._applied = self._applied, {}
        return [EventsApplied(name, attempt, seq) for (name, attempt), seq in applied.items()]

    def _in_order(self, process: WorkProcessState, event: WorkEvent) -> list[WorkEvent]:
        first = event.first_seq or event.seq
        if event.seq <= process.applied_seq:
            return []
        if first > process.applied_seq + 1:
            process.early[first] = event
            return []
        ready = [event]
        process.applied_seq = event.seq
        while (following := process.early.pop(process.applied_seq + 1, None)) is not None:
            ready.append(following)
            process.applied_seq = following.seq
        return ready

    def _apply_body(self, work: LightningWork, process: WorkProcessState, event: WorkEvent) -> bool:
        body = event.body
        if isinstance(body, VarsChanged):
            for name, value in body.values.items():
                work.__dict__[name] = value
                work._state_names().add(name)
                if not name.startswith("_"):
                    process.synced[name] = to_json(value)
            return True
        if isinstance(body, StatusChanged):
            self._apply_status(work, process, body)
            return True
        if isinstance(body, ProcessStarted):
            process.pid = body.pid
            process.launch = None
            return False
        if isinstance(body, WorkCrashed):
            process.crashed = True
            self.failure = AppFailure(work.name, f"work {work.name} failed:\n{body.traceback.rstrip()}")
            return True
        if isinstance(body, ProcessExited):
            if process.exited:
                return False
            process.exited = True
            self._on_exit(work, process, body)
            return True
        return False

    def apply_pending(self, work: LightningWork, pending: PlacementPending) -> bool:
        """Explain in the work's status why it is still pending; whether the flows should run again."""
        process = self.works.get(pending.work_name)
        if process is None or process.attempt != pending.attempt:
            return False
        entry = work._calls.get(work._calls.get("latest_call_hash") or START_CALL_HASH)
        if not entry or not entry["statuses"] or entry["statuses"][-1]["stage"] != WorkStageStatus.PENDING:
            return False
        entry["statuses"][-1]["message"] = pending.reason
        return True

    def _apply_status(self, work: LightningWork, process: WorkProcessState, body: StatusChanged) -> None:
        for index, call in enumerate(process.unconfirmed):
            if call.call_hash == body.call_hash:
                del process.unconfirmed[index]
                if body.status["stage"] == WorkStageStatus.RUNNING:
                    process.running_call = call
                break
        if body.status["stage"] in (WorkStageStatus.SUCCEEDED, WorkStageStatus.FAILED):
            process.running_call = None
        status = body.status
        if status["stage"] == WorkStageStatus.STOPPED:
            # A stop ends whatever call is the latest from the flow's point of view.
            apply_status(work, work._calls.get("latest_call_hash") or START_CALL_HASH, status)
            return
        apply_status(work, body.call_hash, status)

    def _on_exit(self, work: LightningWork, process: WorkProcessState, exit_event: ProcessExited) -> None:
        latest = work._calls.get("latest_call_hash") or START_CALL_HASH
        # Only a stop the flow asked for ends here. A work that stopped itself on a SIGTERM sent by someone else
        # (its agent draining: a preempted or cancelled job) lost its process: its restart policy decides.
        if process.stop_requested:
            last = work.status
            if last.stage != WorkStageStatus.STOPPED or last.reason == WorkStopReasons.PENDING:
                reason = WorkStopReasons.KILLED if exit_event.signal == signal.SIGKILL else WorkStopReasons.SIGTERM_SIGNAL_HANDLER
                apply_status(work, latest, make_status(WorkStageStatus.STOPPED, reason=reason.value,
                                                       message=f"work process {exit_event.describe()}"))
            return
        if process.crashed:
            return
        self._process_lost(work, process, f"the process of work {work.name} {exit_event.describe()}",
                           WorkFailureReasons.PROCESS_EXITED.value)

    def on_works_lost(self, work: LightningWork, attempt: int, reason: str) -> bool:
        """The agent of (work, attempt) has been gone past its grace period; whether anything changed."""
        process = self.works.get(work.name)
        if process is None or process.attempt != attempt or process.exited:
            return False
        process.exited = True
        self._process_lost(work, process, f"work {work.name} lost: {reason}", WorkFailureReasons.AGENT_LOST.value)
        return True

    def _process_lost(self, work: LightningWork, process: WorkProcessState, message: str, reason: str) -> None:
        """Start the work again elsewhere when its restart policy allows it, else fail it with ``reason``."""
        if work.restart_policy.allows(process.attempt - 1):
            calls = [c for c in (process.running_call, *process.unconfirmed) if c is not None]
            successor = self._ensure_process(work, start_action=not calls)
            for call in calls:
                successor.calls_sent += 1
                again = dataclasses.replace(call, attempt=successor.attempt, call_seq=successor.calls_sent, vars={})
                successor.unconfirmed.append(again)
                self.commands.append(again)
            log.warning("work_restarted", work_name=work.name, attempt=successor.attempt, reason=message)
            return
        latest = work._calls.get("latest_call_hash") or START_CALL_HASH
        apply_status(work, latest, make_status(WorkStageStatus.FAILED, message=message, reason=reason))
        if work.raise_exception:
            self.failure = AppFailure(work.name, f"work {work.name} failed: {message}")


log = structlog.get_logger(component="runtime")


def resource_request(work: LightningWork) -> ResourceRequest:
    """What ``work`` needs from an agent: its GPUs (by count or by name, e.g. "gpu"), labels, and only explicit
    CPUs and memory (named sizes such as "cpu-small" were cloud instance types and reserve nothing here)."""
    compute = work.cloud_compute
    wanted = compute.resource_request()
    return ResourceRequest(
        gpus=int(wanted["gpus"]),
        cpus=float(wanted["cpus"]) if compute.cpus is not None else 0.0,
        memory_bytes=int(wanted["memory_bytes"]) if compute.memory is not None else 0,
        labels=dict(wanted["labels"]),
        image=work.cloud_build_config.image or "",
    )


def _sendable_vars(work: LightningWork) -> dict[str, Any]:
    """The work's state attributes as the flow sees them, minus the ones the work cannot take back."""
    return json.loads(to_json({n: work.__dict__[n] for n in work._state_names() if n != "_cloud_compute"}))


def _init_args(work: LightningWork) -> dict[str, Any] | None:
    """The work's constructor arguments as JSON, or None when they are not JSON (it cannot be rebuilt then)."""
    args, kwargs = work.__dict__.get("_init_args", ((), {}))
    try:
        return json.loads(to_json({"args": list(args), "kwargs": kwargs}))
    except (TypeError, ValueError):
        return None
