"""FlowLoop: the one thread that runs user flows.

Each tick takes every event that arrived, applies it, runs the root flow, then hands the commands the flows
produced to the I/O side. It ticks at once when events arrive, at a steady pace while a run keeps changing the
flows' own state (or the works' attributes), at schedule times, and otherwise sleeps: never a busy spin.

    start works with the flow ─► tick ... tick ─► (stop / fail / exception / signal / work crash / internal error)
                                                   ─► stop live works ─► wait for their exits ─► done

Whatever happens on this thread, ``on_end`` is called exactly once: an internal error (ours, or the checkpoint's:
disk full, read-only, I/O error) ends the app with exit status 1 and a message naming the cause, after the works
are stopped. Once the checkpoint has failed, nothing more is acknowledged to the works: what they sent since goes
again to the next run.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import structlog

from lightning_ctl.controlplane.errors import CheckpointError
from lightning_ctl.controlplane.flows.checkpoint import Checkpoint, CheckpointChanges
from lightning_ctl.controlplane.flows.flow_runtime import FlowActions, FlowRuntime
from lightning_ctl.controlplane.flows.queries import Query
from lightning_ctl.controlplane.flows.state_rows import StateRows
from lightning_ctl.controlplane.flows.state_watch import StateWatch
from lightning_ctl.controlplane.flows.stimuli import (
    AppEnding,
    DeadlineCheck,
    FailApp,
    FlowsRan,
    Instruction,
    RunFlows,
)
from lightning_ctl.sdk._app import LightningApp
from lightning_ctl.sdk._events import (
    AgentConnected,
    Command,
    EventsApplied,
    PlacementPending,
    ProcessExited,
    StopWork,
    WorkEvent,
    WorkLost,
    WorkUnreachable,
)
from lightning_ctl.sdk._loader import user_traceback
from lightning_ctl.sdk._runtime import set_runtime
from lightning_ctl.sdk._status import AppStage
from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.errors import CacheMissException, ExitAppException, LightningFlowException

log = structlog.get_logger(component="loop")

TICK_INTERVAL_S = 0.02
"""The pace of runs while a flow keeps changing its own state."""
_IDLE_WAIT_S = 1.0
START_WAIT_S = 5.0
"""The longest the first run waits for works started with the flow to report in."""
ACK_INTERVAL_S = 0.05
"""Acknowledgements only trim the works' resend buffers: batching them keeps them off the call path."""
_CONTROLPLANE_DIR = str(Path(__file__).resolve().parent)
_TEARDOWN_MARGIN_S = 3.0


@dataclass(frozen=True)
class StopRequested:
    """End the app (a signal, or an operator's stop), with this exit status."""

    exit_code: int
    reason: str


@dataclass(frozen=True)
class _StateChangedByQuery:
    """A query changed the app's state (a REST write, an API handler): the flows run again."""


_STATE_CHANGED_BY_QUERY = _StateChangedByQuery()


@dataclass(frozen=True)
class AppEnded:
    """How the app ended."""

    exit_code: int
    message: str = ""


class FlowLoop:
    """Runs the app's flows on a dedicated thread until the app ends."""

    def __init__(
        self,
        app: LightningApp,
        runtime: FlowRuntime,
        send_commands: Callable[[list[Command | EventsApplied]], object],
        on_end: Callable[[AppEnded], object],
        checkpoint: Checkpoint | None = None,
        resumed: bool = False,
        state_watch: StateWatch | None = None,
    ) -> None:
        self.app = app
        self.state_watch = state_watch or StateWatch()
        self.runtime = runtime
        self.inbox: queue.SimpleQueue[WorkEvent | PlacementPending | StopRequested | list[WorkEvent]] = (
            queue.SimpleQueue())
        """What the asyncio side reports; a list is the events of one agent message, taken in order."""
        self._send_commands = send_commands
        self._on_end = on_end
        self._works_by_name: dict[str, LightningWork] = {}
        self._outgoing: list[Command] = []
        self._failure: FailApp | None = None
        self._actions = FlowActions(runtime, self._take)
        runtime.find_work = self._work
        self._last_ack = 0.0
        self._checkpoint = checkpoint
        self._rows = StateRows()
        """The app's state as checkpoint rows: which changed since the last save (and since the last run)."""
        if resumed:
            self._rows.baseline(app)  # just restored from the checkpoint: nothing to write again
        else:
            self._rows.collect(app)  # all of it, for the first save
        self._checkpoint_error: CheckpointError | None = None
        self._carried: list = []
        """Items taken from the inbox after a stop request, left for the teardown."""
        self.ending = False
        """Set (by the flow thread) once the app is ending: its works are being stopped."""
        self._thread = threading.Thread(target=self._main, name="flow-loop", daemon=True)
        self.ticks = 0

    def start(self) -> None:
        """Start the flow thread."""
        self._thread.start()

    def _main(self) -> None:
        set_runtime(self._actions)
        ended = AppEnded(1, "internal error in the flow loop")
        try:
            try:
                ended = self._run_until_end()
            except BaseException as exc:  # noqa: BLE001 - a bug of ours must still end the app cleanly
                ended = _internal_error(exc)
            self._teardown(ended)
        except BaseException as exc:  # noqa: BLE001 - the same, while stopping the works
            ended = ended if ended.exit_code else _internal_error(exc)
        finally:
            self._on_end(ended)

    def _run_until_end(self) -> AppEnded:
        starting = [work for work in self.app.works if work.start_with_flow]
        for work in starting:
            work.start()
        self._flush()
        ended = self._await_started(starting)
        if ended is not None:
            return ended
        has_update = True
        while True:
            batch = self._drain(timeout_s=self._wait_s(has_update))
            for index, item in enumerate(batch):
                if isinstance(item, StopRequested):
                    return self._stop(item, batch[index + 1:])
                has_update |= self._apply(item)
            failed = self._failed()
            if failed is not None:
                return failed
            has_update |= self._check_deadlines()
            now = time.time()
            for flow in self.app.flows:
                has_update |= flow._fire_due_schedules(now)
            if not has_update:
                self._flush()
                continue
            ended, has_update = self._tick()
            if ended is not None:
                return ended

    def _await_started(self, works: list[LightningWork]) -> AppEnded | None:
        """Let works started with the flow report in (on_start done) before the first run, as Lightning does.

        A work whose launch waits for room on the connected agents is not waited for: it never holds the others
        back. Bounded by START_WAIT_S all the same (no agent may have joined yet, or one may be slow to start).
        """
        deadline = time.monotonic() + START_WAIT_S
        while any(self._is_starting(w) for w in works) and time.monotonic() < deadline:
            batch = self._drain(timeout_s=max(0.0, min(0.05, deadline - time.monotonic())))
            for index, item in enumerate(batch):
                if isinstance(item, StopRequested):
                    return self._stop(item, batch[index + 1:])
                if isinstance(item, Query):
                    item.run(self.app, self.runtime)
                    continue
                self._apply(item)
            self._flush()
            if batch:
                self.state_watch.changed()
            failed = self._failed()
            if failed is not None:
                return failed
        return None

    def _stop(self, request: StopRequested, rest: list) -> AppEnded:
        """The app is told to stop; what arrived after the request (events, another stop) is for the teardown."""
        self._carried = rest
        self.app.stage = AppStage.STOPPING
        return AppEnded(request.exit_code, request.reason)

    def _failed(self) -> AppEnded | None:
        """How the app ends if it failed: a work failed it, or its checkpoint cannot be written."""
        if self._checkpoint_error is not None:
            self.app.stage = AppStage.FAILED
            return AppEnded(1, f"the app stopped: {self._checkpoint_error}")
        if self._failure is not None:
            self.app.stage = AppStage.FAILED
            return AppEnded(1, self._failure.message)
        return None

    def _is_starting(self, work: LightningWork) -> bool:
        """Whether ``work`` is on its way to an agent (or on one) and has not reported started yet."""
        return work.is_pending and not self.runtime.is_awaiting_capacity(work.name)

    def _tick(self) -> tuple[AppEnded | None, bool]:
        """Run the root flow once; the end of the app if it ended, and whether to run again soon."""
        self.ticks += 1
        ended = None
        try:
            self.app.root.run()
        except CacheMissException:
            pass
        except ExitAppException:
            self.app.stage = AppStage.STOPPING
            ended = AppEnded(0)
        except LightningFlowException as exc:
            self.app.stage = AppStage.FAILED
            ended = AppEnded(1, f"the flow failed: {exc}" if str(exc) else "")
        except Exception as exc:  # noqa: BLE001 - the user's flow raised: the app fails with its traceback
            self.app.stage = AppStage.FAILED
            ended = AppEnded(1, f"the flow raised:\n{user_traceback(exc, (_CONTROLPLANE_DIR,)).rstrip()}")
        for flow in self.app.flows:
            flow._reset_schedules()
        changed = self._rows.collect(self.app)  # the flows' own state changed: run again soon
        changed |= self._take(self.runtime.apply(FlowsRan(tuple(self.app.works), self.ticks)))
        self._flush(state_collected=True)  # FlowsRan changes no state: the walk just done stands for the save
        self.state_watch.changed()
        return ended, changed

    def _check_deadlines(self) -> bool:
        """Let the runtime act on works past their idle or wait timeout; whether the flows should run again."""
        deadline = self.runtime.next_deadline()
        if deadline is None or deadline > time.monotonic():
            return False
        return self._take(self.runtime.apply(DeadlineCheck()))

    def _wait_s(self, has_update: bool) -> float:
        return min(self._pace_wait_s(has_update), self._deadline_wait_s())

    def _pace_wait_s(self, has_update: bool) -> float:
        if has_update:
            return TICK_INTERVAL_S
        if self.runtime.has_unsent_acks:
            return ACK_INTERVAL_S
        next_times = [t for flow in self.app.flows if (t := flow._next_schedule_time()) is not None]
        if next_times:
            return max(0.0, min(min(next_times) - time.time(), _IDLE_WAIT_S))
        return _IDLE_WAIT_S

    def _deadline_wait_s(self) -> float:
        """How long until a work's idle or wait timeout passes (the runtime shares the loop's monotonic clock)."""
        deadline = self.runtime.next_deadline()
        return _IDLE_WAIT_S if deadline is None else max(0.0, deadline - time.monotonic())

    def _drain(self, timeout_s: float) -> list[WorkEvent | PlacementPending | StopRequested]:
        """Block up to ``timeout_s`` for the first item, then take everything else that is waiting."""
        items, self._carried = self._carried, []
        if not items:
            try:
                _add(items, self.inbox.get(timeout=timeout_s))
            except queue.Empty:
                return []
        while True:
            try:
                _add(items, self.inbox.get_nowait())
            except queue.Empty:
                return self._answer_queries(items)

    def _answer_queries(self, items: list) -> list:
        """Answer the queries among ``items`` now (between ticks, before a stop in the same batch); the rest."""
        if not any(isinstance(item, Query) for item in items):
            return items
        changed = False
        for item in items:
            if isinstance(item, Query):
                item.run(self.app, self.runtime)
                changed |= item.changes_state
        rest = [item for item in items if not isinstance(item, Query)]
        return [*rest, _STATE_CHANGED_BY_QUERY] if changed else rest

    def _apply(self, event: WorkEvent | PlacementPending | AgentConnected | WorkLost | WorkUnreachable
               | _StateChangedByQuery) -> bool:
        """Apply what the asyncio side reported; whether the flows should run again."""
        if isinstance(event, _StateChangedByQuery):
            return True
        if isinstance(event, WorkUnreachable):
            return False  # only the teardown waits on stops
        run_flows = self._take(self.runtime.apply(event))
        if isinstance(event, AgentConnected) and self._outgoing:
            # What the agent may have missed goes at once. Nothing to send, no save: a fleet joining would
            # otherwise cost a checkpoint (a walk of the whole state) per agent.
            self._flush()
        return run_flows

    def _take(self, instructions: list[Instruction]) -> bool:
        """Route what the runtime answered; whether the flows should run again.

        Commands go to the outgoing batch, a failure to the app's end.
        """
        run_flows = False
        for instruction in instructions:
            if isinstance(instruction, RunFlows):
                run_flows = True
            elif isinstance(instruction, FailApp):
                self._failure = self._failure or instruction
            else:
                self._outgoing.append(instruction)
        return run_flows

    def _work(self, name: str) -> LightningWork | None:
        work = self._works_by_name.get(name)
        if work is None:
            self._works_by_name = {w.name: w for w in self.app.works}
            work = self._works_by_name.get(name)
        return work

    def _flush(self, state_collected: bool = False) -> None:
        """Hand the tick's commands to the I/O side, and every ACK_INTERVAL_S the acknowledgements.

        Each acknowledgement goes after the checkpoint that covers it. ``state_collected``: the app's state was
        collected since it last changed (one walk of the state per tick, not two).

        Write-ahead: a command leaves only once the checkpoint recording it (the call in its work's ledger and
        among the unconfirmed ones, its number, a launch, a stop) is committed, so a control plane restarted from
        that checkpoint sends it again rather than forgetting it, and never gives its number to another command.
        An acknowledgement leaves only once the events it covers are committed, so an acknowledged event is never
        lost.
        """
        outgoing: list[Command | EventsApplied] = list(self._outgoing)
        self._outgoing = []
        now = time.monotonic()
        acks_due = now - self._last_ack >= ACK_INTERVAL_S
        saved = self.save_checkpoint(state_collected) if outgoing or acks_due else True
        if not saved:
            # Write-ahead: what the checkpoint could not record never leaves; the app is ending, its works stopping.
            outgoing = [command for command in outgoing if isinstance(command, StopWork)]
        if acks_due:
            self._last_ack = now
            if saved:  # after the save that covers them: an acknowledged event is never lost
                outgoing.extend(self.runtime.take_acks())
        if outgoing:
            self._send_commands(outgoing)

    def save_checkpoint(self, state_collected: bool = False) -> bool:
        """Commit what changed of the app's state and of the works record; whether the checkpoint holds it.

        A failure to write is kept (the app then ends, naming it) and never retried: no later command or
        acknowledgement may pretend that what it depends on is safe. ``state_collected``: the rows that changed are
        pending already (the caller just collected them).
        """
        if self._checkpoint is None:
            return True
        if self._checkpoint_error is not None:
            return False
        if not state_collected:
            self._rows.collect(self.app)
        try:
            self._checkpoint.save(CheckpointChanges(self._rows.take_pending(), self.runtime.take_changed_records()))
        except CheckpointError as exc:
            self._checkpoint_error = exc
            log.error("checkpoint_failed", error=str(exc))
            return False
        return True

    def _teardown(self, ended: AppEnded) -> None:
        """Stop every live work and wait (bounded) for their processes to exit, applying their last events.

        A stop request meanwhile (a second Ctrl-C, or a first one while the app ends by itself) kills the works
        still running at once, naming them. Works whose agent cannot be reached are not waited for: they are named,
        as are those that did not exit in time.
        """
        self.ending = True
        grace_s = self.runtime.stop_grace_s
        live = set(self.runtime.running_work_names())
        self._take(self.runtime.apply(AppEnding("the app is ending", grace_s)))
        unreachable: dict[str, str] = {}
        self._flush()
        deadline = time.monotonic() + grace_s + _TEARDOWN_MARGIN_S
        while live and time.monotonic() < deadline:
            for item in self._drain(timeout_s=min(0.2, max(0.0, deadline - time.monotonic()))):
                if isinstance(item, StopRequested):
                    self._kill(item.reason, live)
                    deadline = min(deadline, time.monotonic() + _TEARDOWN_MARGIN_S)
                elif isinstance(item, WorkUnreachable):
                    process = self.runtime.works.get(item.work_name)
                    if item.work_name in live and process is not None and process.attempt == item.attempt:
                        live.discard(item.work_name)
                        unreachable[item.work_name] = item.reason
                else:
                    self._apply(item)
                    if isinstance(item, WorkEvent) and isinstance(item.body, ProcessExited):
                        live.discard(item.work_name)
                        unreachable.pop(item.work_name, None)
        if unreachable:
            log.warning("works_not_reached", works=sorted(unreachable), reasons=sorted(set(unreachable.values())),
                        hint="they may still be running on their agent")
        if live:
            log.warning("works_still_running_at_exit", works=sorted(live))
        self.save_checkpoint()
        sys.stdout.flush()

    def _kill(self, reason: str, live: set[str]) -> None:
        """The app is told to stop while it is ending: the works still running are killed now (no grace)."""
        log.warning("works_killed", works=sorted(live), reason=f"{reason} during shutdown")
        self._take(self.runtime.apply(AppEnding(f"{reason}: stopping now", 0.0)))
        self._flush()

def _add(items: list, item: object) -> None:
    """Append an inbox item to ``items``; the events of one agent message (a list) one by one."""
    if type(item) is list:
        items.extend(item)
    else:
        items.append(item)


def _internal_error(exc: BaseException) -> AppEnded:
    """The end of an app whose flow thread failed on our side (the traceback only at --log-level debug)."""
    log.error("flow_loop_crashed", error=repr(exc))
    log.debug("flow_loop_crash_traceback", exc_info=exc)
    return AppEnded(1, f"internal error in the flow loop: {exc!r}")
