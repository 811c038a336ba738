"""FlowRuntime: the flow thread's record of work processes, as a state machine: ``apply(stimulus) -> instructions``.

Stimuli are the flows' actions (a call, a start, a stop, a run of the flows, the app's end), idle checks, and what
the asyncio side reports (work events, a placement that waits, an agent that connected, works lost with their
agent); see ``stimuli.py``. Each one updates the record of work processes and the flows' view of the works (their
attributes and call ledgers, changed only through ``sdk._calls``), and returns instructions: commands for agents,
and ``RunFlows`` / ``FailApp`` for the loop. No I/O, no shared command list (the caller routes what ``apply``
returns), and one injected clock, read only to time idle works. Each work's attributes are kept in sync both ways:
the work streams every change; after each run of the flows their changes to a running work's public attributes are
sent to it (and each call carries those not sent yet). Events of a work process are applied exactly once and in
order (``sequencing.py``); calls and updates for it are numbered, and kept until it confirms them
(``work_process_state.py``). The records that changed go to the checkpoint (``take_changed_records``) before the
commands that follow from them leave; a runtime restored from it carries on where they left off.

    FlowCalledWork / FlowStartedWork ─► (LaunchWork) RunCall       WorkEvent ─► ledger, attributes, RunFlows
    FlowStoppedWork / AppEnding ─► StopWork                        ProcessExited ─► stopped / lost ─► restart or fail
    FlowsRan ─► UpdateVars, RunFlows                               AgentConnected ─► stale stops, resends, processes
    DeadlineCheck ─► StopWork (idle past CloudCompute.idle_timeout:  gone (restored ones: started again on resume)
                 the next call launches a new attempt); failed with reason timeout (no machine within
                 CloudCompute.wait_timeout)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import signal
import time
from typing import Any, Callable

import structlog

from lightning_ctl.controlplane.flows.gangs import GangCoordinator
from lightning_ctl.controlplane.flows.launches import build_launch
from lightning_ctl.controlplane.flows.snapshots import same, snapshot
from lightning_ctl.controlplane.flows.stimuli import (
    AppEnding,
    DeadlineCheck,
    FailApp,
    FlowCalledWork,
    FlowsRan,
    FlowStartedWork,
    FlowStoppedWork,
    Instruction,
    RunFlows,
    Stimulus,
)
from lightning_ctl.controlplane.flows.work_process_state import WorkProcessState
from lightning_ctl.sdk._call_values import encode_arguments
from lightning_ctl.sdk._calls import (
    apply_status,
    apply_to_latest,
    explain_pending,
    explain_readiness,
    is_stopped_for_good,
    latest_statuses,
)
from lightning_ctl.sdk._component import to_json
from lightning_ctl.sdk._events import (
    AgentConnected,
    EventBody,
    EventsApplied,
    InvalidEvent,
    LaunchWork,
    PlacementPending,
    ProcessExited,
    ProcessStarted,
    RunCall,
    StatusChanged,
    StopWork,
    UpdateVars,
    VarsChanged,
    WorkCrashed,
    WorkEndpoint,
    WorkEvent,
    WorkLost,
)
from lightning_ctl.sdk._gang import GangMembership, gang_of
from lightning_ctl.sdk._runtime import Runtime
from lightning_ctl.sdk._status import WorkFailureReasons, WorkStageStatus, WorkStopReasons, make_status
from lightning_ctl.sdk._storage_values import decode_value
from lightning_ctl.sdk._work import LightningWork

log = structlog.get_logger(component="runtime")

_COMMANDS = (LaunchWork, RunCall, UpdateVars, StopWork)

FindWork = Callable[[str], "LightningWork | None"]
ADDRESS_NAMES = frozenset({"_host", "_port", "_internal_ip"})
"""A work's address: its agent's to give (``WorkEndpoint``), never changed by the work's own deltas."""


class FlowRuntime:
    """The record of every work's current process; ``apply`` turns stimuli into instructions."""

    def __init__(self, app_path: str, env: dict[str, str], stop_grace_s: float,
                 find_work: FindWork = lambda name: None, clock: Callable[[], float] = time.monotonic,
                 last_attempts: dict[str, int] | None = None) -> None:
        self.app_path = app_path
        self.env = env
        self.stop_grace_s = stop_grace_s
        self.find_work = find_work
        """Looks a work of the app up by its full name (for stimuli that name a work rather than carry it)."""
        self.works: dict[str, WorkProcessState] = {}
        self._last_attempts = dict(last_attempts or {})
        """The highest attempt of each work any run of the app launched: a work's first attempt comes after it."""
        self._applied: dict[tuple[str, int], int] = {}
        self._clock = clock
        self._timed: set[str] = set()
        """Works with an idle or wait timeout (kept apart: the loop asks for the next deadline on every pass)."""
        self._warned_interruptible = False
        self._changed: set[str] = set()
        """Works whose process record changed since the last ``take_changed_records``."""
        self._restored_launches: set[str] = set()
        """Works restored from a checkpoint with a launch their process never confirmed: routed again when the
        first agent connects (this control plane's registry has never seen them)."""
        self.gangs = GangCoordinator(self)
        """The rules for the nodes of a MultiNode (they launch, fail, restart and stop as one)."""

    def apply(self, stimulus: Stimulus) -> list[Instruction]:
        """Apply one stimulus; the instructions it produces, in order (each carrying the stimulus's cause)."""
        instructions = _handler_of(type(stimulus))(self, stimulus)
        self._note_changed(stimulus, instructions)
        return instructions

    def _note_changed(self, stimulus: Stimulus, instructions: list[Instruction]) -> None:
        """Remember whose record the stimulus may have changed: the work it names, and every work it commands."""
        if isinstance(stimulus, AgentConnected):
            # Only the works it reports or was expected to run: a fleet joining must not rewrite every record.
            self._changed.update(r.work_name for r in stimulus.running)
            self._changed.update(name for name, _ in stimulus.expected)
        named = getattr(stimulus, "work_name", None) or getattr(getattr(stimulus, "work", None), "name", None)
        if named is not None:
            self._changed.add(named)
        self._changed.update(i.work_name for i in instructions if isinstance(i, _COMMANDS))

    # -- reads ----------------------------------------------------------------------------------------------------

    def running_work_names(self) -> list[str]:
        """Works whose process reported in and has not exited: those worth waiting for when the app ends."""
        return [name for name, p in self.works.items() if not p.exited and p.pid is not None]

    def is_awaiting_capacity(self, work_name: str) -> bool:
        """Whether the work's launch waits for room on an agent (it has no process yet)."""
        process = self.works.get(work_name)
        return process is not None and process.awaiting_capacity and process.pid is None

    def next_deadline(self) -> float | None:
        """When (the runtime's clock) a work's idle timeout or wait timeout passes next.

        Now for a work newly idle, None when no work is idle or waiting for a machine with a timeout. The loop
        applies ``DeadlineCheck`` once it has passed.
        """
        deadlines = []
        for name in self._timed:
            process = self.works[name]
            if process.is_idle and process.idle_timeout_s is not None:
                since = process.idle_since
                deadlines.append(self._clock() if since is None else since + process.idle_timeout_s)
            elif process.is_waiting_for_machine and process.wait_timeout_s is not None:
                deadlines.append(process.launched_at + process.wait_timeout_s)
        return min(deadlines, default=None)

    @property
    def has_unsent_acks(self) -> bool:
        """Whether events were applied since the last ``take_acks``."""
        return bool(self._applied)

    def take_acks(self) -> list[EventsApplied]:
        """What was applied since the last call, as one cumulative acknowledgement per work attempt."""
        applied, self._applied = self._applied, {}
        return [EventsApplied(name, attempt, seq) for (name, attempt), seq in applied.items()]

    def take_changed_records(self) -> dict[str, dict[str, Any]]:
        """The records of the works whose process record changed since the last call.

        As JSON-ready data for the checkpoint (one object per work).
        """
        changed, self._changed = self._changed, set()
        return {name: self.works[name].to_record() for name in changed if name in self.works}

    def restore(self, saved: dict[str, Any], find_work: FindWork) -> None:
        """Take back the record of work processes from a checkpoint.

        The works' attributes are restored already (``find_work`` finds them): both sides are taken to agree on
        them, since every update the work may lack is among the unconfirmed commands, sent again when its agent
        reconnects. A launch still waiting for a machine waits its whole wait timeout again from now.
        """
        now = self._clock()
        for name, record in saved.items():
            process = self.works[name] = WorkProcessState.from_record(record)
            process.restored = not process.exited
            process.launched_at = now
            work = find_work(name)
            if work is not None and not process.exited:
                process.synced = {n: snapshot(v) for n, v in work._public_vars().items()}
            if process.idle_timeout_s is not None or process.wait_timeout_s is not None:
                self._timed.add(name)
        self._restored_launches = {name for name, p in self.works.items() if p.launch is not None}

    # -- the flows' actions ---------------------------------------------------------------------------------------

    @functools.singledispatchmethod
    def _handle(self, stimulus: object) -> list[Instruction]:
        raise TypeError(f"the flow runtime has no handler for {type(stimulus).__name__}")

    @_handle.register(FlowCalledWork)
    def _called(self, called: FlowCalledWork) -> list[Instruction]:
        work = called.work
        process, launched = self._ensure_process(work, start_action=False, cause=called.cause)
        process.idle_since = None
        # Plain JSON (a Path or bytes become tagged dicts): the call is encoded on the I/O thread and checkpointed.
        args, kwargs = encode_arguments(work.name, called.args, called.kwargs)
        in_gang = gang_of(work) is not None
        # A gang node's call is numbered as it leaves, with its gang's rendezvous (see gangs.py).
        call = RunCall(work.name, process.attempt, called.call_hash, args, kwargs, self._unsent_changes(work, process),
                       command_seq=0 if in_gang else process.next_command_seq(), cause=called.cause)
        if in_gang:
            return [*launched, *self.gangs.send_or_hold(work, process, call)]
        process.unconfirmed.append(call)
        return [*launched, call]

    @_handle.register(FlowStartedWork)
    def _started(self, started: FlowStartedWork) -> list[Instruction]:
        return list(self._ensure_process(started.work, start_action=True, cause=started.cause)[1])

    @_handle.register(FlowStoppedWork)
    def _stopped(self, stopped: FlowStoppedWork) -> list[Instruction]:
        process = self.works.get(stopped.work.name)
        if process is None or process.exited:
            return []
        process.stop_requested = True
        stop = StopWork(stopped.work.name, process.attempt, "stopped by the flow", self.stop_grace_s,
                        cause=stopped.cause)
        if gang_of(stopped.work) is not None:
            return [stop, *self.gangs.node_stopped(stopped.work, stopped.cause)]
        return [stop]

    @_handle.register(FlowsRan)
    def _flows_ran(self, ran: FlowsRan) -> list[Instruction]:
        updates: list[Instruction] = []
        for work in ran.works:
            process = self.works.get(work.name)
            if process is None or process.exited:
                continue
            changes = self._unsent_changes(work, process)
            if changes:
                update = UpdateVars(work.name, process.attempt, changes, process.next_command_seq(), cause=ran.cause)
                process.unconfirmed.append(update)
                updates.append(update)
        return [*updates, RunFlows(ran.cause)] if updates else []

    @_handle.register(AppEnding)
    def _app_ending(self, ending: AppEnding) -> list[Instruction]:
        # A work still starting gets the stop too: its agent applies it once the process exists.
        stops: list[Instruction] = []
        for name, process in self.works.items():
            if not process.exited:
                process.stop_requested = True
                stops.append(StopWork(name, process.attempt, ending.reason, ending.grace_s, cause=ending.cause))
        return stops

    @_handle.register(DeadlineCheck)
    def _deadline_check(self, check: DeadlineCheck) -> list[Instruction]:
        """Stop the works idle past their idle timeout; fail those waiting for a machine past their wait timeout.

        An idle work's process is stopped (its GPUs and reservations go with it).
        """
        now = self._clock()
        stops: list[Instruction] = []
        idle: list[str] = []
        for name in sorted(self._timed):
            process = self.works[name]
            if (process.is_waiting_for_machine and process.wait_timeout_s is not None
                    and now - process.launched_at >= process.wait_timeout_s):
                stops.extend(self._wait_timed_out(name, process, check.cause))
            elif process.is_idle and process.idle_timeout_s is not None:
                if process.idle_since is None:
                    process.idle_since = now
                idle.append(name)
        # A gang is stopped for idleness only whole (decided before any of its nodes is stopped).
        busy_gangs = {m.gang for name in idle if (m := self._gang_of(name)) is not None
                      and not self.gangs.all_idle_past(m, now)}
        for name in idle:
            process = self.works[name]
            membership = self._gang_of(name)
            if membership is not None and membership.gang in busy_gangs:
                continue
            since, timeout_s = process.idle_since, process.idle_timeout_s
            if since is not None and timeout_s is not None and now - since >= timeout_s:
                process.stop_requested = process.idle_stopped = True
                log.info("work_idle_stopped", work_name=name, attempt=process.attempt,
                         idle_timeout_s=process.idle_timeout_s, cause=check.cause)
                stops.append(StopWork(name, process.attempt, f"no call for {process.idle_timeout_s:g} s (idle_timeout)",
                                      self.stop_grace_s, cause=check.cause))
        return stops

    def _gang_of(self, work_name: str) -> GangMembership | None:
        work = self.find_work(work_name)
        return gang_of(work) if work is not None else None

    def _wait_timed_out(self, name: str, process: WorkProcessState, cause: str) -> list[Instruction]:
        """The work waited for a machine past its wait timeout.

        Its launch is called off and its latest call fails with reason ``timeout`` (its next call tries again, with a
        new attempt).
        """
        work = self.find_work(name)
        if work is None:
            return []
        process.stop_requested = process.exited = True
        statuses = latest_statuses(work)
        waited_for = statuses[-1].get("message") if statuses else None
        message = (f"no machine took work {name} within its wait_timeout of {process.wait_timeout_s:g} s"
                   + (f": {waited_for}" if waited_for else ""))
        log.warning("work_wait_timed_out", work_name=name, attempt=process.attempt,
                    wait_timeout_s=process.wait_timeout_s, cause=cause)
        apply_to_latest(work, make_status(WorkStageStatus.FAILED, message=message,
                                          reason=WorkFailureReasons.TIMEOUT.value))
        return [StopWork(name, process.attempt, "wait_timeout", self.stop_grace_s, cause=cause), RunFlows(cause)]

    def _ensure_process(self, work: LightningWork, start_action: bool,
                        cause: str) -> tuple[WorkProcessState, tuple[Instruction, ...]]:
        """The work's live process record.

        A new attempt is launched (the returned LaunchWork) when it has none, or when its process is being
        stopped for being idle.
        """
        process = self.works.get(work.name)
        if process is not None and not process.exited and not process.idle_stopped:
            return process, ()
        return self.new_process(work, start_action, cause)

    def new_process(self, work: LightningWork, start_action: bool, cause: str,
                    generation: int | None = None) -> tuple[WorkProcessState, tuple[Instruction, ...]]:
        """Start a new attempt of ``work``: its record and launch.

        A gang's node joins ``generation`` (by default the one :class:`GangCoordinator` says).
        """
        previous = self.works.get(work.name)
        membership = gang_of(work)
        if membership is not None:
            generation = generation or self.gangs.generation_for(membership, work.name)
            work.__dict__["_internal_ip"] = ""  # until its agent says where this process runs (the rendezvous)
        attempt = (previous.attempt if previous else self._last_attempts.get(work.name, 0)) + 1
        launch = build_launch(work, attempt, self.app_path, self.env, self.stop_grace_s, start_action, cause)
        if membership is not None and generation is not None:
            launch = self.gangs.tag_launch(work, launch, generation)
        compute = work.cloud_compute
        process = WorkProcessState(
            attempt, synced={n: snapshot(v) for n, v in work._public_vars().items()}, launch=launch,
            restarts=previous.restarts if previous else 0, idle_timeout_s=compute.idle_timeout,
            wait_timeout_s=compute.wait_timeout, launched_at=self._clock(), gang_generation=generation or 0)
        self.works[work.name] = process
        if process.idle_timeout_s is not None or process.wait_timeout_s is not None:
            self._timed.add(work.name)
        if compute.interruptible and not self._warned_interruptible:
            self._warned_interruptible = True
            log.warning("interruptible_has_no_effect", work_name=work.name,
                        hint="CloudCompute(interruptible=True) / spot=True is a placement hint: no agent or provider "
                             "of lightning-ctl runs works on interruptible capacity, so it runs like any other work")
        return process, (launch,)

    def _unsent_changes(self, work: LightningWork, process: WorkProcessState) -> dict[str, Any]:
        """The public attributes the flow changed since the work last saw them (and mark them seen)."""
        changes = {}
        synced = process.synced
        for name, value in work._public_vars().items():
            if name not in synced or not same(value, synced[name]):
                synced[name] = snapshot(value)
                changes[name] = json.loads(to_json(value))  # plain JSON, a copy: the flow may change it meanwhile
        return changes

    # -- what the asyncio side reports ----------------------------------------------------------------------------

    @_handle.register(AgentConnected)
    def _agent_connected(self, connected: AgentConnected) -> list[Instruction]:
        """An agent (re)connected: stop its stale work processes, send again what its works may have missed.

        A process whose attempt is not the work's current one was replaced while its agent was away: it is
        stopped, so that a work never runs twice at once. Every command is idempotent on the agent's side.
        """
        cause = connected.cause
        out: list[Instruction] = []
        for running in connected.running:
            process = self.works.get(running.work_name)
            if process is None or process.attempt != running.attempt or process.exited:
                out.append(StopWork(running.work_name, running.attempt, "a newer attempt replaced it",
                                    self.stop_grace_s, cause=cause))
                continue
            process.pid = process.pid or running.pid
            process.launch = None
            process.restored = False
            out.extend(process.unconfirmed)
            if process.stop_requested:
                out.append(StopWork(running.work_name, process.attempt, "stop", self.stop_grace_s, cause=cause))
        reported = {r.work_name for r in connected.running}
        # A launch shipped to this agent's previous session may have been lost with it. Launches bound for other
        # agents are their sessions' business, and those waiting for room are held by the registry: sending every
        # unconfirmed launch again on each connection would cost a fleet joining at once works x agents commands.
        again = dict.fromkeys([*(name for name, _ in connected.expected), *sorted(self._restored_launches)])
        self._restored_launches = set()
        for name in again:
            process = self.works.get(name)
            if (process is not None and process.launch is not None and name not in reported
                    and not process.stop_requested):
                out.append(process.launch)
                out.extend(process.unconfirmed)
        for name, attempt in connected.expected:
            process = self.works.get(name)
            work = self.find_work(name)
            if (process is not None and work is not None and process.attempt == attempt and not process.exited
                    and process.pid is not None and name not in reported):
                # Its agent came back without it and without its exit: it ended while no agent watched it.
                out.extend(self._process_ended(
                    work, process, "was gone when its agent came back (its machine restarted, or it ended while no "
                    "agent watched it)", killed=False, cause=cause))
        return out

    @_handle.register(PlacementPending)
    def _placement_pending(self, pending: PlacementPending) -> list[Instruction]:
        """Explain in the work's status why it is still pending."""
        process = self.works.get(pending.work_name)
        work = self.find_work(pending.work_name)
        if process is None or work is None or process.attempt != pending.attempt:
            return []
        process.awaiting_capacity = pending.for_capacity
        return [RunFlows(pending.cause)] if explain_pending(work, pending.reason) else []

    @_handle.register(WorkLost)
    def _work_lost(self, lost: WorkLost) -> list[Instruction]:
        """The agent of (work, attempt) has been gone past its grace period."""
        process = self.works.get(lost.work_name)
        work = self.find_work(lost.work_name)
        if process is None or work is None or process.attempt != lost.attempt or process.exited:
            return []
        process.exited = True
        work.__dict__["_url"] = ""  # its server is out of reach with its agent
        return [*self._process_lost(work, process, f"work {work.name} lost: {lost.reason}",
                                    WorkFailureReasons.AGENT_LOST.value, lost.cause), RunFlows(lost.cause)]

    @_handle.register(WorkEvent)
    def _work_event(self, event: WorkEvent) -> list[Instruction]:
        """Apply an event of a work exactly once and in order.

        Events of the work process are numbered: one already applied is dropped, one ahead of a gap waits for the
        gap to be filled (the process sends everything unacknowledged again after a reconnection).
        """
        process = self.works.get(event.work_name)
        if process is None or process.attempt != event.attempt:
            return []  # a stale attempt's event
        work = self.find_work(event.work_name)
        if work is None:
            return []
        process.restored = False
        if event.seq == 0:  # observed by the agent: idempotent
            return _body_handler_of(type(event.body))(self, event.body, work, process, event.cause)
        out: list[Instruction] = []
        for ready in process.sequencer.accept(event):
            out.extend(_body_handler_of(type(ready.body))(self, ready.body, work, process, ready.cause))
        self._applied[(event.work_name, event.attempt)] = process.applied_seq
        return out

    @functools.singledispatchmethod
    def _on_body(self, body: EventBody, work: LightningWork, process: WorkProcessState,
                 cause: str) -> list[Instruction]:
        return []  # output lines go to the console, not through the flows

    @_on_body.register(VarsChanged)
    def _vars_changed(self, body: VarsChanged, work: LightningWork, process: WorkProcessState,
                      cause: str) -> list[Instruction]:
        for name, value in body.values.items():
            if name in ADDRESS_NAMES:
                continue
            work.__dict__[name] = decoded = decode_value(value)  # a Path, Payload or Drive is an object here too
            work._state_names().add(name)
            if not name.startswith("_"):
                process.synced[name] = snapshot(decoded)
        if body.command_seq:
            process.confirm_updates(body.command_seq)
        return [RunFlows(cause)]

    @_on_body.register(StatusChanged)
    def _status_changed(self, body: StatusChanged, work: LightningWork, process: WorkProcessState,
                        cause: str) -> list[Instruction]:
        stage = body.status["stage"]
        call = process.confirm_call(body.call_hash)
        if call is not None and stage == WorkStageStatus.RUNNING:
            process.running_call = call
        if stage in (WorkStageStatus.SUCCEEDED, WorkStageStatus.FAILED):
            process.running_call = None
        if stage == WorkStageStatus.STOPPED and self._is_idle_stop(work, process):
            return []  # its exit records the stop for idleness
        if stage == WorkStageStatus.STOPPED and process.gang_stopped:
            return [RunFlows(cause)]  # stopped because its gang ended: the gang's outcome stands
        if stage == WorkStageStatus.STOPPED:
            apply_to_latest(work, body.status)  # a stop ends whatever call is the latest from the flow's view
        else:
            apply_status(work, body.call_hash, body.status)
            if process.readiness_message:
                explain_readiness(work, process.readiness_message)
        if stage == WorkStageStatus.FAILED and gang_of(work) is not None:
            reason = body.status.get("reason") or WorkFailureReasons.USER_EXCEPTION.value
            return [*self.gangs.node_failed(work, process, body.status.get("message", ""), reason, cause),
                    RunFlows(cause)]
        return [RunFlows(cause)]

    @_on_body.register(WorkEndpoint)
    def _endpoint(self, body: WorkEndpoint, work: LightningWork, process: WorkProcessState,
                  cause: str) -> list[Instruction]:
        """The work's address as its agent gave it (and its url once ready), or why it could not get a port."""
        if body.error:
            if process.crashed or process.exited:
                return []
            process.crashed = True  # no process runs: its exit report changes nothing more
            message = f"work {work.name} could not get its port: {body.error}"
            apply_to_latest(work, make_status(WorkStageStatus.FAILED, message=message,
                                              reason=WorkFailureReasons.PORT_UNAVAILABLE.value))
            failing: list[Instruction] = [FailApp(work.name, message, cause)] if work.raise_exception else []
            if gang_of(work) is not None:  # its gang ends with it
                failing.extend(self.gangs.node_failed(work, process, message,
                                                      WorkFailureReasons.PORT_UNAVAILABLE.value, cause))
            return [*failing, RunFlows(cause)]
        values = {"_host": body.host, "_port": body.port, "_internal_ip": body.internal_ip, "_url": body.url}
        changed = any(work.__dict__.get(name) != value for name, value in values.items())
        work.__dict__.update(values)
        process.readiness_message = body.message
        changed = explain_readiness(work, body.message) or changed
        return [*self._release_gang(work), RunFlows(cause)] if changed else []

    @_on_body.register(ProcessStarted)
    def _process_started(self, body: ProcessStarted, work: LightningWork, process: WorkProcessState,
                         cause: str) -> list[Instruction]:
        process.pid = body.pid
        process.launch = None
        process.awaiting_capacity = False
        return self._release_gang(work)

    def _release_gang(self, work: LightningWork) -> list[Instruction]:
        """A node's calls held for its gang's rendezvous, sent once node 0 runs and its agent gave its address."""
        membership = gang_of(work)
        return self.gangs.release_held(membership) if membership is not None else []

    @_on_body.register(WorkCrashed)
    def _work_crashed(self, body: WorkCrashed, work: LightningWork, process: WorkProcessState,
                      cause: str) -> list[Instruction]:
        process.crashed = True
        return [FailApp(work.name, f"work {work.name} failed:\n{body.traceback.rstrip()}", cause), RunFlows(cause)]

    @_on_body.register(InvalidEvent)
    def _invalid_event(self, body: InvalidEvent, work: LightningWork, process: WorkProcessState,
                       cause: str) -> list[Instruction]:
        """The work broke the protocol's rules (refused at the edge): it fails with the reason and is stopped."""
        if process.crashed or process.exited:
            return []
        process.crashed = True  # its exit, when it comes, changes nothing more
        apply_to_latest(work, make_status(WorkStageStatus.FAILED, message=body.reason,
                                          reason=WorkFailureReasons.INVALID_EVENT.value))
        if gang_of(work) is not None:  # its gang ends with it (every node stopped, this one too)
            out: list[Instruction] = self.gangs.node_failed(work, process, body.reason,
                                                            WorkFailureReasons.INVALID_EVENT.value, cause)
        else:
            out = [StopWork(work.name, process.attempt, body.reason, self.stop_grace_s, cause=cause)]
        if work.raise_exception:
            out.append(FailApp(work.name, f"work {work.name} failed: {body.reason}", cause))
        return [*out, RunFlows(cause)]

    @_on_body.register(ProcessExited)
    def _process_exited(self, body: ProcessExited, work: LightningWork, process: WorkProcessState,
                        cause: str) -> list[Instruction]:
        return self._process_ended(work, process, body.describe(), body.signal == signal.SIGKILL, cause)

    def _process_ended(self, work: LightningWork, process: WorkProcessState, how: str, killed: bool,
                       cause: str) -> list[Instruction]:
        """The process ended (``how``, e.g. "exited with code 3"): a stop, an idle stop, a crash, or a loss."""
        if process.exited:
            return []
        process.exited = True
        work.__dict__["_url"] = ""  # its server went with its process
        if self._is_idle_stop(work, process):
            apply_to_latest(work, make_status(
                WorkStageStatus.STOPPED, reason=WorkStopReasons.IDLE_TIMEOUT.value,
                message=f"no call for {process.idle_timeout_s:g} s: its process {how}, releasing what it held; its "
                        "next call starts it again"))
            return [RunFlows(cause)]
        if process.gang_stopped:
            return [RunFlows(cause)]  # its gang ended (a node failed or was lost): the gang's outcome stands
        # Only a stop the runtime asked for (the flow's, the app's end, an idle timeout above) ends here. A work that
        # stopped itself on a SIGTERM sent by someone else (its agent draining: a preempted or cancelled job) lost
        # its process: its restart policy decides.
        if process.stop_requested:
            last = work.status
            if last.stage != WorkStageStatus.STOPPED or last.reason == WorkStopReasons.PENDING:
                reason = WorkStopReasons.KILLED if killed else WorkStopReasons.SIGTERM_SIGNAL_HANDLER
                apply_to_latest(work, make_status(WorkStageStatus.STOPPED, reason=reason.value,
                                                  message=f"work process {how}"))
            return [RunFlows(cause)]
        if process.crashed:
            return [RunFlows(cause)]
        return [*self._process_lost(work, process, f"the process of work {work.name} {how}",
                                    WorkFailureReasons.PROCESS_EXITED.value, cause), RunFlows(cause)]

    @staticmethod
    def _is_idle_stop(work: LightningWork, process: WorkProcessState) -> bool:
        """Whether the process is stopping for idleness only (the flow did not stop the work meanwhile)."""
        return process.idle_stopped and not is_stopped_for_good(work)

    def _process_lost(self, work: LightningWork, process: WorkProcessState, message: str, reason: str,
                      cause: str) -> list[Instruction]:
        """Start the work again in a new process when its restart policy allows it, else fail it with ``reason``.

        A process taken back from a checkpoint and found gone went with the control plane's machine, not through a
        fault of the work's: resuming the app starts it again whatever the policy (not counted as a restart).
        """
        if gang_of(work) is not None:
            return self.gangs.node_lost(work, process, message, reason, cause)
        resuming = process.restored
        if not resuming and not work.restart_policy.allows(process.restarts):
            apply_to_latest(work, make_status(WorkStageStatus.FAILED, message=message, reason=reason))
            if work.raise_exception:
                return [FailApp(work.name, f"work {work.name} failed: {message}", cause)]
            return []
        calls = process.calls_to_rerun
        successor, launched = self._ensure_process(work, start_action=not calls, cause=cause)
        successor.restarts += 0 if resuming else 1
        again: list[Instruction] = []
        for call in calls:
            resent = dataclasses.replace(call, attempt=successor.attempt, command_seq=successor.next_command_seq(),
                                         vars={}, cause=cause)
            successor.unconfirmed.append(resent)
            again.append(resent)
        why = "the app resumed" if resuming else "its restart policy allows it"
        apply_to_latest(work, make_status(WorkStageStatus.PENDING, message=f"{message}; started again in attempt "
                                                                           f"{successor.attempt} ({why})"))
        log.warning("work_restarted", work_name=work.name, attempt=successor.attempt, reason=message, cause=cause,
                    resumed=resuming)
        return [*launched, *again]


# functools.singledispatchmethod builds a new bound wrapper (update_wrapper included) on every access: the ingest
# path would pay that twice per event. Dispatch goes through the registries directly (cached by type).
_handler_of = FlowRuntime.__dict__["_handle"].dispatcher.dispatch
_body_handler_of = FlowRuntime.__dict__["_on_body"].dispatcher.dispatch


class FlowActions(Runtime):
    """Plugs the flow runtime into the SDK.

    A flow's ``work.run/start/stop`` becomes a stimulus, and what the runtime answers goes to ``emit`` (the
    loop's outgoing instructions).
    """

    def __init__(self, runtime: FlowRuntime, emit: Callable[[list[Instruction]], object]) -> None:
        self._runtime = runtime
        self._emit = emit

    def dispatch_call(self, work: LightningWork, call_hash: str, args: tuple, kwargs: dict) -> None:
        """Send a call of ``work`` (its pending status is already recorded)."""
        self._emit(self._runtime.apply(FlowCalledWork(work, call_hash, tuple(args), dict(kwargs))))

    def start_work(self, work: LightningWork) -> None:
        """Start the process of ``work`` with the start action."""
        self._emit(self._runtime.apply(FlowStartedWork(work)))

    def stop_work(self, work: LightningWork) -> None:
        """Stop the process of ``work``."""
        self._emit(self._runtime.apply(FlowStoppedWork(work)))
