"""FlowLoop: the one thread that runs user flows.

Each tick takes every event that arrived, applies it, runs the root flow, then hands the commands the flows
produced to the I/O side. It ticks at once when events arrive, at a steady pace while a run keeps changing the
flows' own state (or the works' attributes), at schedule times, and otherwise sleeps: never a busy spin.

    start works with the flow ─► tick ... tick ─► (stop / fail / exception / signal / work crash)
                                                   ─► stop live works ─► wait for their exits ─► done
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

from lightning_ctl.controlplane.flows.checkpoint import Checkpoint
from lightning_ctl.controlplane.flows.flow_runtime import FlowActions, FlowRuntime
from lightning_ctl.controlplane.flows.queries import Query
from lightning_ctl.controlplane.flows.state_watch import StateWatch
from lightning_ctl.controlplane.flows.stimuli import (
    AppEnding,
    FailApp,
    FlowsRan,
    IdleCheck,
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
    WorkEvent,
    WorkLost,
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
CHECKPOINT_SHARE = 1 / 3
"""The largest share of the flow thread's time the checkpoint takes: after a save that took t, the next one waits
at least t / CHECKPOINT_SHARE (so a large app's flows keep running between saves; its acknowledgements, which
follow each save, come less often)."""
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
        send_commands: Callable[[list[Command | EventsApplied]], None],
        on_end: Callable[[AppEnded], None],
        checkpoint: Checkpoint | None = None,
        state_watch: StateWatch | None = None,
    ) -> None:
        self.app = app
        self.state_watch = state_watch or StateWatch()
        self.runtime = runtime
        self.inbox: queue.SimpleQueue[WorkEvent | PlacementPending | StopRequested] = queue.SimpleQueue()
        self._send_commands = send_commands
        self._on_end = on_end
        self._works_by_name: dict[str, LightningWork] = {}
        self._outgoing: list[Command] = []
        self._failure: FailApp | None = None
        self._actions = FlowActions(runtime, self._take)
        runtime.find_work = self._work
        self._next_save_at = 0.0
        self._unsaved = True
        """Whether anything reached the flow thread since the last save (only then is the state encoded again)."""
        self._checkpoint = checkpoint
        self._thread = threading.Thread(target=self._main, name="flow-loop", daemon=True)
        self.ticks = 0

    def start(self) -> None:
        """Start the flow thread."""
        self._thread.start()

    def _main(self) -> None:
        set_runtime(self._actions)
        try:
            ended = self._run_until_end()
        except BaseException as exc:  # noqa: BLE001 - a bug of ours must still end the app cleanly
            log.exception("flow_loop_crashed")
            ended = AppEnded(1, f"internal error in the flow loop: {exc!r}")
        self._teardown(ended)
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
            for item in self._drain(timeout_s=self._wait_s(has_update)):
                if isinstance(item, StopRequested):
                    self.app.stage = AppStage.STOPPING
                    return AppEnded(item.exit_code, item.reason)
                has_update |= self._apply(item)
            if self._failure is not None:
                self.app.stage = AppStage.FAILED
                return AppEnded(1, self._failure.message)
            has_update |= self._stop_idle_works()
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
            items = self._drain(timeout_s=max(0.0, min(0.05, deadline - time.monotonic())))
            for item in items:
                if isinstance(item, StopRequested):
                    self.app.stage = AppStage.STOPPING
                    return AppEnded(item.exit_code, item.reason)
                if isinstance(item, Query):
                    item.run(self.app, self.runtime)
                    continue
                self._apply(item)
            self._flush()
            if items:
                self.state_watch.changed()
            if self._failure is not None:
                self.app.stage = AppStage.FAILED
                return AppEnded(1, self._failure.message)
        return None

    def _is_starting(self, work: LightningWork) -> bool:
        """Whether ``work`` is on its way to an agent (or on one) and has not reported started yet."""
        return work.is_pending and not self.runtime.is_awaiting_capacity(work.name)

    def _tick(self) -> tuple[AppEnded | None, bool]:
        """Run the root flow once; the end of the app if it ended, and whether to run again soon."""
        flows = self.app.flows
        before = [flow._own_state_json() for flow in flows]
        self.ticks += 1
        self._unsaved = True
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
        for flow in flows:
            flow._reset_schedules()
        flows = self.app.flows
        changed = len(flows) != len(before) or any(f._own_state_json() != b for f, b in zip(flows, before))
        changed |= self._take(self.runtime.apply(FlowsRan(tuple(self.app.works), self.ticks)))
        self._flush()
        self.state_watch.changed()
        return ended, changed

    def _stop_idle_works(self) -> bool:
        """Once an idle work's timeout passed, let the runtime stop it; whether the flows should run again."""
        deadline = self.runtime.next_idle_deadline()
        if deadline is None or deadline > time.monotonic():
            return False
        self._unsaved = True
        return self._take(self.runtime.apply(IdleCheck()))

    def _wait_s(self, has_update: bool) -> float:
        return min(self._pace_wait_s(has_update), self._idle_wait_s())

    def _pace_wait_s(self, has_update: bool) -> float:
        if has_update:
            return TICK_INTERVAL_S
        if self.runtime.has_unsent_acks:
            return max(0.0, self._next_save_at - time.monotonic())
        next_times = [t for flow in self.app.flows if (t := flow._next_schedule_time()) is not None]
        if next_times:
            return max(0.0, min(min(next_times) - time.time(), _IDLE_WAIT_S))
        return _IDLE_WAIT_S

    def _idle_wait_s(self) -> float:
        """How long until an idle work's timeout passes (the runtime shares the loop's monotonic clock)."""
        deadline = self.runtime.next_idle_deadline()
        return _IDLE_WAIT_S if deadline is None else max(0.0, deadline - time.monotonic())

    def _drain(self, timeout_s: float) -> list[WorkEvent | PlacementPending | StopRequested]:
        """Block up to ``timeout_s`` for the first item, then take everything else that is waiting."""
        try:
            items = [self.inbox.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        self._unsaved = True
        while True:
            try:
                items.append(self.inbox.get_nowait())
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

    def _apply(self, event: WorkEvent | PlacementPending | AgentConnected | WorkLost | _StateChangedByQuery) -> bool:
        """Apply what the asyncio side reported; whether the flows should run again."""
        if event is _STATE_CHANGED_BY_QUERY:
            return True
        run_flows = self._take(self.runtime.apply(event))
        if isinstance(event, AgentConnected):
            self._send_outgoing()  # what the agent may have missed goes at once
        return run_flows

    def _take(self, instructions: list[Instruction]) -> bool:
        """Route what the runtime answered: commands to the outgoing batch, a failure to the app's end; whether
        the flows should run again."""
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

    def _flush(self) -> None:
        """Hand the tick's commands to the I/O side; every ACK_INTERVAL_S (less often when saving takes long, see
        CHECKPOINT_SHARE), checkpoint what changed, then acknowledge."""
        outgoing: list[Command | EventsApplied] = list(self._outgoing)
        self._outgoing = []
        now = time.monotonic()
        if now >= self._next_save_at:
            if self._unsaved:
                self._unsaved = False
                self.save_checkpoint()  # before the acks: an acknowledged event is never lost
            took_s = time.monotonic() - now
            self._next_save_at = now + max(ACK_INTERVAL_S, took_s / CHECKPOINT_SHARE)
            outgoing.extend(self.runtime.take_acks())
        if outgoing:
            self._send_commands(outgoing)

    def _send_outgoing(self) -> None:
        """Hand the commands gathered so far to the I/O side now (no checkpoint, no acknowledgement)."""
        if self._outgoing:
            outgoing, self._outgoing = self._outgoing, []
            self._send_commands(outgoing)

    def save_checkpoint(self) -> None:
        """Commit the app's state and the works record (when they changed)."""
        if self._checkpoint is not None:
            self._checkpoint.save(self.app.state, self.runtime.snapshot())

    def _teardown(self, ended: AppEnded) -> None:
        """Stop every live work and wait (bounded) for their processes to exit, applying their last events."""
        grace_s = self.runtime.stop_grace_s
        live = set(self.runtime.running_work_names())
        self._take(self.runtime.apply(AppEnding("the app is ending", grace_s)))
        self._flush()
        deadline = time.monotonic() + grace_s + _TEARDOWN_MARGIN_S
        while live and time.monotonic() < deadline:
            for item in self._drain(timeout_s=min(0.2, max(0.0, deadline - time.monotonic()))):
                if not isinstance(item, StopRequested):
                    self._apply(item)
                    if isinstance(item, WorkEvent) and isinstance(item.body, ProcessExited):
                        live.discard(item.work_name)
        if live:
            log.warning("works_still_running_at_exit", works=sorted(live))
        self.save_checkpoint()
        sys.stdout.flush()
