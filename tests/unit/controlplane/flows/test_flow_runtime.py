"""Tests for controlplane.flows.flow_runtime: flow actions become commands, work events become flow state.

The state machine is driven directly on the test thread, as the loop drives it: the flows' actions through
``FlowActions`` (their instructions collected by the rig), reports through ``FlowRuntime.apply``. No loop, no gRPC,
no processes.
"""

from __future__ import annotations

import json

import pytest

from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime
from lightning_ctl.controlplane.flows.stimuli import (
    AppEnding,
    DeadlineCheck,
    FailApp,
    FlowsRan,
    Instruction,
    RunFlows,
)
from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._events import (
    AgentConnected,
    EventsApplied,
    LaunchWork,
    ProcessExited,
    ProcessStarted,
    RunCall,
    StatusChanged,
    StopWork,
    UpdateVars,
    VarsChanged,
    WorkCrashed,
    WorkEvent,
)
from lightning_ctl.sdk._hashing import START_CALL_HASH, call_hash
from lightning_ctl.sdk._status import make_status
from lightning_ctl.sdk.errors import CacheMissException

APP_PATH = "/apps/app.py"
ENV = {"MODE": "test"}
GRACE_S = 5.0


class Job(LightningWork):
    def __init__(self, **kwargs) -> None:
        super().__init__(start_with_flow=False, **kwargs)
        self.count = 0
        self.knob = 0

    def run(self, x: int = 0) -> None:
        self.count += 1


class Root(LightningFlow):
    """Calls its work with ``self.arg``; the test moves ``arg`` and the work's attributes between runs."""

    def __init__(self, **work_kwargs) -> None:
        super().__init__()
        self.job = Job(**work_kwargs)
        self.arg = 0

    def run(self) -> None:
        self.job.run(self.arg)


class Rig:
    """A FlowRuntime plugged into the SDK as the loop plugs it, with the commands of the flows' actions kept."""

    def __init__(self) -> None:
        self.now = 100.0
        """The runtime's clock (seconds), moved by the tests."""
        self.runtime = FlowRuntime(app_path=APP_PATH, env=dict(ENV), stop_grace_s=GRACE_S, clock=lambda: self.now)
        self.sent: list[Instruction] = []
        self.failure: FailApp | None = None
        """The first FailApp the runtime answered, as the loop keeps it."""
        self.app: LightningApp | None = None

    def take_commands(self) -> list[Instruction]:
        """The commands the flows' actions produced since the last call."""
        sent = list(self.sent)
        self.sent.clear()
        return sent

    def apply_event(self, body_event: WorkEvent) -> bool:
        """Apply a work event as the loop does: its commands join the sent ones; whether the flows run again."""
        return self._take(self.runtime.apply(body_event))

    def flows_ran(self, app: LightningApp) -> bool:
        """After a run of the flows: queue the flow's changes to running works; whether there were any."""
        return self._take(self.runtime.apply(FlowsRan(tuple(app.works))))

    def _take(self, instructions: list[Instruction]) -> bool:
        self.sent.extend(i for i in instructions if not isinstance(i, (RunFlows, FailApp)))
        self.failure = self.failure or next((i for i in instructions if isinstance(i, FailApp)), None)
        return any(isinstance(i, RunFlows) for i in instructions)

    def bind(self, app: LightningApp) -> LightningApp:
        self.app = app
        self.runtime.find_work = lambda name: next((w for w in app.works if w.name == name), None)
        return app


def tick(app: LightningApp) -> None:
    """Run the root flow once, as the loop does (a call interrupt ends the run)."""
    try:
        app.root.run()
    except CacheMissException:
        pass


def event(body, attempt: int = 1, seq: int = 1, work_name: str = "root.job") -> WorkEvent:
    return WorkEvent(work_name, attempt, seq, body)


def launched(runtime: Rig, app: LightningApp, pid: int = 4242) -> LightningWork:
    """Make the work's first call and report its process as started; the commands are discarded."""
    tick(app)
    runtime.take_commands()
    runtime.apply_event(event(ProcessStarted(pid)))
    return app.root.job


class TestCallCommands:
    def test_first_call_launches_then_runs(self, runtime, make_app):
        """A work's first call produces LaunchWork (attempt 1) then RunCall for the same attempt."""
        app = make_app(parallel=True)
        tick(app)
        launch, call = runtime.take_commands()
        assert isinstance(launch, LaunchWork) and isinstance(call, RunCall)
        assert (launch.work_name, launch.attempt) == ("root.job", 1)
        assert (launch.app_path, launch.env) == (APP_PATH, ENV)
        assert launch.start_action is False and launch.stop_grace_s == GRACE_S
        assert call == RunCall("root.job", 1, call_hash((0,), {}), [0], {}, {}, command_seq=1)

    def test_launch_describes_how_to_rebuild_the_work(self, runtime, make_app):
        """LaunchWork names the work class and carries its JSON constructor arguments."""
        app = make_app(parallel=True)
        tick(app)
        launch = runtime.take_commands()[0]
        assert launch.work_class == f"{Job.__module__}:Job"
        assert launch.init_args == {"args": [], "kwargs": {"parallel": True}}

    def test_launch_carries_the_flows_view_of_the_vars(self, runtime, make_app):
        """LaunchWork.vars holds the work's state attributes (flow-set values too), not _cloud_compute."""
        app = make_app(parallel=True)
        app.root.job.knob = 9
        tick(app)
        launch = runtime.take_commands()[0]
        assert launch.vars["knob"] == 9 and launch.vars["count"] == 0
        assert launch.vars["_host"] == "127.0.0.1"
        assert "_cloud_compute" not in launch.vars

    def test_non_parallel_call_interrupts_after_queueing_commands(self, runtime, make_app):
        """A non-parallel work's first call raises CacheMissException but its commands are queued."""
        app = make_app()
        with pytest.raises(CacheMissException):
            app.root.run()
        assert [type(c) for c in runtime.take_commands()] == [LaunchWork, RunCall]

    def test_repeated_call_sends_nothing(self, runtime, make_app):
        """Calling again with the same arguments while pending sends no command."""
        app = make_app(parallel=True)
        tick(app)
        runtime.take_commands()
        tick(app)
        assert runtime.take_commands() == []

    def test_new_arguments_reuse_the_process(self, runtime, make_app):
        """A call with new arguments to a live work sends only a RunCall for the same attempt."""
        app = make_app(parallel=True)
        launched(runtime, app)
        app.root.arg = 1
        tick(app)
        assert runtime.take_commands() == [RunCall("root.job", 1, call_hash((1,), {}), [1], {}, {}, command_seq=2)]

    def test_run_call_carries_unsent_flow_changes(self, runtime, make_app):
        """RunCall.vars holds the work attributes the flow changed since the work last saw them."""
        app = make_app(parallel=True)
        launched(runtime, app)
        app.root.job.knob = 5
        app.root.arg = 1
        tick(app)
        [call] = runtime.take_commands()
        assert call.vars == {"knob": 5}
        assert runtime.flows_ran(app) is False
        assert runtime.take_commands() == []

    def test_take_commands_empties_the_queue(self, runtime, make_app):
        """take_commands returns the commands once."""
        app = make_app(parallel=True)
        tick(app)
        assert len(runtime.take_commands()) == 2
        assert runtime.take_commands() == []

    def test_start_launches_with_the_start_action(self, runtime, make_app):
        """work.start() sends LaunchWork with start_action=True; a later call reuses that process."""
        app = make_app(parallel=True)
        app.root.job.start()
        [launch] = runtime.take_commands()
        assert launch.start_action is True and launch.attempt == 1
        assert app.root.job._calls["latest_call_hash"] == START_CALL_HASH
        tick(app)
        assert [type(c) for c in runtime.take_commands()] == [RunCall]


class TestUpdateVars:
    def test_flow_change_to_running_work_is_sent(self, runtime, make_app):
        """After a tick, a flow change to a running work's public attribute becomes UpdateVars."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.knob = 7
        assert runtime.flows_ran(app) is True
        assert runtime.take_commands() == [UpdateVars("root.job", 1, {"knob": 7}, command_seq=2)]

    def test_change_is_sent_once(self, runtime, make_app):
        """A change already sent is not sent again."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.knob = 7
        runtime.flows_ran(app)
        runtime.take_commands()
        assert runtime.flows_ran(app) is False
        assert runtime.take_commands() == []

    def test_in_place_mutation_is_sent(self, runtime, make_app):
        """A flow-side in-place change of a list attribute is noticed and sent whole."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.knob = [1]
        runtime.flows_ran(app)
        runtime.take_commands()
        job.knob.append(2)
        runtime.flows_ran(app)
        assert runtime.take_commands() == [UpdateVars("root.job", 1, {"knob": [1, 2]}, command_seq=3)]

    def test_private_attributes_are_not_sent(self, runtime, make_app):
        """Private attributes set by the flow never reach the work."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job._local = 3
        assert runtime.flows_ran(app) is False

    def test_work_without_process_gets_nothing(self, runtime, make_app):
        """A work that was never launched gets no UpdateVars (its launch will carry its vars)."""
        app = make_app(parallel=True)
        app.root.job.knob = 3
        assert runtime.flows_ran(app) is False
        assert runtime.take_commands() == []

    def test_values_from_the_work_are_not_echoed(self, runtime, make_app):
        """A value the work reported is not sent back to it."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        assert runtime.apply_event(event(VarsChanged({"count": 3, "knob": 4}), seq=2)) is True
        assert (job.count, job.knob) == (3, 4)
        assert runtime.flows_ran(app) is False


class TestStop:
    def test_stop_sends_stop_work_and_records_pending_stop(self, runtime, make_app):
        """work.stop() sends StopWork with the runtime's grace and appends stopped (reason pending)."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.stop()
        [stop] = runtime.take_commands()
        assert isinstance(stop, StopWork)
        assert (stop.work_name, stop.attempt, stop.grace_s) == ("root.job", 1, GRACE_S)
        assert job.has_stopped and job.status.reason == "pending"

    def test_stop_without_process_sends_nothing(self, runtime, make_app):
        """Stopping a work that has no process sends no command but marks it stopped."""
        app = make_app(parallel=True)
        app.root.job.stop()
        assert runtime.take_commands() == []
        assert app.root.job.has_stopped

    def test_a_stopped_launch_is_not_sent_again_when_an_agent_connects(self, runtime, make_app):
        """A work stopped before its process reported in is not launched again by an agent's (re)connection."""
        app = make_app(parallel=True)
        tick(app)
        runtime.take_commands()
        app.root.job.stop()
        runtime.take_commands()
        assert runtime.runtime.apply(AgentConnected("box", ())) == []

    def test_an_agent_connecting_gets_again_only_the_launches_placed_on_it(self, runtime, make_app):
        """A launch not confirmed yet goes again to the agent it was placed on when that agent reconnects; another
        agent's connection does not send it again (with a fleet joining, that would be works x agents commands)."""
        app = make_app(parallel=True)
        tick(app)
        launch, call = runtime.take_commands()
        assert runtime.runtime.apply(AgentConnected("other", ())) == []
        assert runtime.runtime.apply(AgentConnected("box", (), expected=(("root.job", 1),))) == [launch, call]

    def test_restored_launches_go_again_once_when_the_first_agent_connects(self, runtime, make_app):
        """After a restart, launches the checkpoint holds unconfirmed are routed again once: the new registry
        never saw them; after that it holds them."""
        app = make_app(parallel=True)
        tick(app)
        launch, call = runtime.take_commands()
        restored = FlowRuntime(APP_PATH, dict(ENV), GRACE_S, find_work=runtime.runtime.find_work)
        restored.restore(json.loads(json.dumps(runtime.runtime.take_changed_records())), runtime.runtime.find_work)
        again = restored.apply(AgentConnected("box", ()))
        assert [(type(c), c.work_name, c.attempt) for c in again] == [(LaunchWork, "root.job", 1), (RunCall, "root.job", 1)]
        assert restored.apply(AgentConnected("other", ())) == []

    def test_stop_all_stops_live_processes(self, runtime, make_app):
        """The app's end sends StopWork with the reason to every work whose process is up, named as running."""
        app = make_app(parallel=True)
        launched(runtime, app)
        assert runtime.runtime.running_work_names() == ["root.job"]
        assert runtime.runtime.apply(AppEnding("the app is ending", 2.0)) == [
            StopWork("root.job", 1, "the app is ending", 2.0)]

    def test_stop_all_skips_works_not_started(self, runtime, make_app):
        """A launched work whose process has not reported started is not named as running."""
        app = make_app(parallel=True)
        tick(app)
        runtime.take_commands()
        assert runtime.runtime.running_work_names() == []


class TestEvents:
    def test_status_events_drive_the_flow_view(self, runtime, make_app):
        """running then succeeded statuses make the work running, then succeeded with one success."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        h0 = call_hash((0,), {})
        runtime.apply_event(event(StatusChanged(h0, make_status("running")), seq=2))
        assert job.is_running and job._calls["latest_call_hash"] == h0
        runtime.apply_event(event(StatusChanged(h0, make_status("succeeded")), seq=3))
        assert job.has_succeeded and job.num_successes == 1
        tick(app)
        assert runtime.take_commands() == []  # a cache hit: nothing sent

    def test_started_records_the_pid_without_running_the_flow(self, runtime, make_app):
        """ProcessStarted records the pid and does not ask for a run."""
        app = make_app(parallel=True)
        tick(app)
        assert runtime.apply_event(event(ProcessStarted(77))) is False
        assert runtime.runtime.works["root.job"].pid == 77

    def test_stale_attempt_is_ignored(self, runtime, make_app):
        """An event of another attempt changes nothing."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        assert runtime.apply_event(event(VarsChanged({"count": 9}), attempt=2)) is False
        assert job.count == 0

    def test_event_of_unknown_work_is_ignored(self, runtime, make_app):
        """An event for a work the runtime never launched changes nothing."""
        app = make_app(parallel=True)
        assert runtime.apply_event(event(VarsChanged({"count": 9}))) is False
        assert app.root.job.count == 0

    def test_crash_sets_the_failure(self, runtime, make_app):
        """WorkCrashed sets runtime.failure with the work's name and traceback."""
        app = make_app(parallel=True)
        launched(runtime, app)
        trace = 'Traceback (most recent call last):\n  File "app.py", line 3\nValueError: bad\n'
        assert runtime.apply_event(event(WorkCrashed(trace), seq=2)) is True
        assert runtime.failure.work_name == "root.job"
        assert "ValueError: bad" in runtime.failure.message and "root.job" in runtime.failure.message

    def test_exit_with_raise_exception_fails_the_app(self, runtime, make_app):
        """An exit fails the call (process_exited) and, with raise_exception, the app, naming the code."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        assert runtime.apply_event(event(ProcessExited(4242, 3), seq=2)) is True
        assert job.has_failed and job.status.reason == "process_exited"
        assert "exited with code 3" in job.status.message
        assert runtime.failure.work_name == "root.job"
        assert "exited with code 3" in runtime.failure.message

    def test_killed_by_signal_names_the_signal(self, runtime, make_app):
        """A process killed by a signal fails with a message naming the signal."""
        app = make_app(parallel=True)
        launched(runtime, app)
        runtime.apply_event(event(ProcessExited(4242, -9, 9), seq=2))
        assert "killed by signal 9 (SIGKILL)" in runtime.failure.message

    def test_a_process_its_agent_could_not_start_fails_with_the_agents_reason(self, runtime, make_app):
        """A launch that failed on the agent ends like any process, its message saying why it never started."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        reason = "the agent could not start the work's process: [Errno 11] Resource temporarily unavailable"
        runtime.apply_event(event(ProcessExited(0, 1, reason=reason), seq=0))
        assert job.has_failed and reason in job.status.message
        assert reason in runtime.failure.message

    def test_exit_without_raise_exception_only_fails_the_call(self, runtime, make_app):
        """With raise_exception=False an exit marks the call failed but does not fail the app."""
        app = make_app(parallel=True, raise_exception=False)
        job = launched(runtime, app)
        runtime.apply_event(event(ProcessExited(4242, 1), seq=2))
        assert job.has_failed
        assert runtime.failure is None

    def test_exit_after_crash_adds_no_status(self, runtime, make_app):
        """After the work reported its own failure and crash, its exit adds no status."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        h0 = call_hash((0,), {})
        runtime.apply_event(event(StatusChanged(h0, make_status("running")), seq=2))
        failed = make_status("failed", message="Traceback ...", reason="user_exception")
        runtime.apply_event(event(StatusChanged(h0, failed), seq=3))
        runtime.apply_event(event(WorkCrashed("Traceback ..."), seq=4))
        runtime.apply_event(event(ProcessExited(4242, 1), seq=5))
        assert [s.stage for s in job.statuses] == ["pending", "running", "failed"]
        assert job.status.reason == "user_exception"

    def test_exit_after_stop_ends_with_sigterm_reason(self, runtime, make_app):
        """An exit by code after stop() appends stopped with reason sigterm_signal_handler."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.stop()
        runtime.apply_event(event(ProcessExited(4242, 0), seq=2))
        assert job.has_stopped and job.status.reason == "sigterm_signal_handler"
        assert runtime.failure is None

    def test_exit_by_signal_after_stop_is_killed_after_grace(self, runtime, make_app):
        """An exit by signal after stop() appends stopped with reason killed_after_grace."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.stop()
        runtime.apply_event(event(ProcessExited(4242, -9, 9), seq=2))
        assert job.has_stopped and job.status.reason == "killed_after_grace"
        assert runtime.failure is None

    def test_a_stop_nobody_asked_for_hands_the_work_to_its_restart_policy(self, runtime, make_app):
        """A work that stopped on a SIGTERM the flow never sent (its agent drained: a preempted or cancelled job)
        lost its process: with RestartPolicy.on_failure it is launched again."""
        from lightning_ctl.sdk import RestartPolicy

        app = make_app(parallel=True, restart_policy=RestartPolicy.on_failure(1))
        launched(runtime, app)
        stopped = make_status("stopped", reason="sigterm_signal_handler")
        runtime.apply_event(event(StatusChanged("whatever", stopped), seq=2))
        runtime.apply_event(event(ProcessExited(4242, 255), seq=3))
        relaunched = [c for c in runtime.take_commands() if isinstance(c, LaunchWork)]
        assert [c.attempt for c in relaunched] == [2]
        assert runtime.failure is None

    def test_reported_stop_is_not_duplicated_on_exit(self, runtime, make_app):
        """When the work reported stopped itself, its exit adds no second stopped status."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.stop()
        stopped = make_status("stopped", reason="sigterm_signal_handler")
        runtime.apply_event(event(StatusChanged("whatever", stopped), seq=2))
        runtime.apply_event(event(ProcessExited(4242, 0), seq=3))
        assert [(s.stage, s.reason) for s in job.statuses] == [
            ("pending", None),
            ("stopped", "pending"),
            ("stopped", "sigterm_signal_handler"),
        ]

    def test_call_after_exit_relaunches_with_next_attempt(self, runtime, make_app):
        """After the process exited, a new call launches attempt 2; attempt 1's events are then ignored."""
        app = make_app(parallel=True, raise_exception=False)
        job = launched(runtime, app)
        runtime.apply_event(event(ProcessExited(4242, 1), seq=2))
        app.root.arg = 1
        tick(app)
        launch, call = runtime.take_commands()
        assert (launch.attempt, call.attempt) == (2, 2)
        assert runtime.apply_event(event(VarsChanged({"count": 5}), attempt=1, seq=3)) is False
        assert job.count == 0


class TestExactlyOnce:
    def test_a_status_sent_again_is_applied_once(self, runtime, make_app):
        """The same numbered status arriving twice (a resend after a reconnection) adds one status."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        h0 = call_hash((0,), {})
        running = event(StatusChanged(h0, make_status("running")), seq=2)
        assert runtime.apply_event(running) is True
        assert runtime.apply_event(running) is False
        assert [s.stage for s in job.statuses] == ["pending", "running"]

    def test_events_after_a_gap_wait_and_acks_cover_only_what_was_applied(self, runtime, make_app):
        """Events 3 and 4 wait for 2; the acknowledgement says 1 until 2 arrives, then 4."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        runtime.runtime.take_acks()
        assert runtime.apply_event(event(VarsChanged({"count": 3}), seq=3)) is False
        assert runtime.apply_event(event(VarsChanged({"count": 4}), seq=4)) is False
        assert job.count == 0
        assert runtime.runtime.take_acks() == [EventsApplied("root.job", 1, 1)]
        assert runtime.apply_event(event(VarsChanged({"count": 2}), seq=2)) is True
        assert job.count == 4
        assert runtime.runtime.take_acks() == [EventsApplied("root.job", 1, 4)]

    def test_a_merged_change_is_applied_with_its_range(self, runtime, make_app):
        """A change merged from seqs 2..9 applies after seq 1 and is acknowledged up to 9."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        merged = WorkEvent("root.job", 1, 9, VarsChanged({"count": 8, "knob": 1}), first_seq=2)
        assert runtime.apply_event(merged) is True
        assert (job.count, job.knob) == (8, 1)
        assert runtime.runtime.take_acks() == [EventsApplied("root.job", 1, 9)]

    def test_agent_observed_events_bypass_numbering(self, runtime, make_app):
        """Seq 0 events (observed by the agent: exits) apply whatever the numbered events' state."""
        app = make_app(parallel=True, raise_exception=False)
        job = launched(runtime, app)
        runtime.apply_event(event(ProcessExited(4242, 1), seq=0))
        assert job.has_failed and runtime.runtime.works["root.job"].exited

    def test_restored_runtime_drops_events_the_checkpoint_covered(self, runtime, make_app):
        """A runtime restored from a snapshot keeps applied_seq: the events it covered are not applied again."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        runtime.apply_event(event(VarsChanged({"count": 2}), seq=2))
        restored = FlowRuntime(APP_PATH, dict(ENV), GRACE_S, find_work=runtime.runtime.find_work)
        restored.restore(json.loads(json.dumps(runtime.runtime.take_changed_records())), runtime.runtime.find_work)
        job.count = 0
        assert restored.apply(event(VarsChanged({"count": 2}), seq=2)) == []
        assert job.count == 0
        assert restored.apply(event(VarsChanged({"count": 3}), seq=3)) == [RunFlows()]
        assert job.count == 3


class TestStateMachine:
    def test_an_unknown_stimulus_is_refused(self, runtime):
        """apply() dispatches by type: anything it has no handler for raises TypeError naming it."""
        with pytest.raises(TypeError, match="no handler for str"):
            runtime.runtime.apply("launch everything")

    def test_commands_carry_their_cause(self, runtime, make_app):
        """Each command names the stimulus that produced it: the flow's call, its stop, the app's end."""
        app = make_app(parallel=True)
        tick(app)
        launch, call = runtime.take_commands()
        assert launch.cause == call.cause == f"flow_called root.job {call_hash((0,), {})}"
        runtime.apply_event(event(ProcessStarted(7)))
        app.root.job.stop()
        [stop] = runtime.take_commands()
        assert stop.cause == "flow_stopped root.job"

    def test_flow_actions_never_share_a_command_list(self, runtime, make_app):
        """apply() returns each stimulus's commands: a second apply does not return the first one's again."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.knob = 1
        first = runtime.runtime.apply(FlowsRan((job,)))
        second = runtime.runtime.apply(FlowsRan((job,)))
        assert first == [UpdateVars("root.job", 1, {"knob": 1}, command_seq=2), RunFlows()]
        assert second == []


class TestIdleTimeout:
    """A work with CloudCompute(idle_timeout=S): its process stops after S s without a call, and comes back."""

    @staticmethod
    def idle_after_a_call(runtime: Rig, make_app, timeout_s: float = 5.0) -> LightningWork:  # noqa: ANN001
        """A launched work whose first call succeeded: idle from now on."""
        app = make_app(parallel=True, cloud_compute=CloudCompute(idle_timeout=timeout_s))
        job = launched(runtime, app)
        h0 = call_hash((0,), {})
        runtime.apply_event(event(StatusChanged(h0, make_status("running")), seq=2))
        runtime.apply_event(event(StatusChanged(h0, make_status("succeeded")), seq=3))
        return job

    def stop_when_due(self, runtime: Rig) -> list[Instruction]:
        """Apply DeadlineCheck as the loop does, once the runtime's idle deadline has passed."""
        deadline = runtime.runtime.next_deadline()
        assert deadline is not None and deadline <= runtime.now
        return runtime.runtime.apply(DeadlineCheck())

    def test_an_idle_process_is_stopped_after_its_timeout(self, runtime, make_app):
        """Idle from t, the process gets StopWork (reason naming the idle timeout) at t+5 s, not before."""
        self.idle_after_a_call(runtime, make_app)
        assert self.stop_when_due(runtime) == []  # first seen idle now
        assert runtime.runtime.next_deadline() == 105.0
        runtime.now = 104.9
        assert runtime.runtime.apply(DeadlineCheck()) == []
        runtime.now = 105.0
        [stop] = self.stop_when_due(runtime)
        assert (stop.work_name, stop.attempt) == ("root.job", 1) and "idle_timeout" in stop.reason
        assert runtime.runtime.next_deadline() is None

    def test_its_exit_leaves_the_work_stopped_for_idleness(self, runtime, make_app):
        """After the exit the work is stopped with reason idle_timeout, whatever status its process reported."""
        job = self.idle_after_a_call(runtime, make_app, timeout_s=0)
        self.stop_when_due(runtime)
        runtime.apply_event(event(StatusChanged("h", make_status("stopped", reason="sigterm_signal_handler")), seq=4))
        assert runtime.apply_event(event(ProcessExited(4242, 0), seq=5)) is True
        assert job.has_stopped and job.status.reason == "idle_timeout"
        assert "its next call starts it again" in job.status.message
        assert runtime.failure is None

    @pytest.mark.parametrize("flow_stops_it_too", [False, True])
    def test_an_idle_stop_is_a_stop_not_a_loss(self, runtime, make_app, flow_stops_it_too):
        """The runtime asked for the idle stop itself: its exit is never handed to the restart policy (no new
        attempt launched for it), also when the flow stops the work before the exit arrives."""
        from lightning_ctl.sdk import RestartPolicy

        app = make_app(parallel=True, cloud_compute=CloudCompute(idle_timeout=0),
                       restart_policy=RestartPolicy.on_failure(3))
        job = launched(runtime, app)
        h0 = call_hash((0,), {})
        runtime.apply_event(event(StatusChanged(h0, make_status("running")), seq=2))
        runtime.apply_event(event(StatusChanged(h0, make_status("succeeded")), seq=3))
        self.stop_when_due(runtime)
        if flow_stops_it_too:
            job.stop()
        runtime.take_commands()
        runtime.apply_event(event(StatusChanged("h", make_status("stopped", reason="sigterm_signal_handler")), seq=4))
        runtime.apply_event(event(ProcessExited(4242, 0), seq=5))
        assert [c for c in runtime.take_commands() if isinstance(c, LaunchWork)] == []
        assert job.has_stopped and runtime.failure is None

    def test_the_next_call_starts_a_new_process(self, runtime, make_app):
        """A call after the idle stop launches attempt 2 and runs there; a cached call sends nothing."""
        self.idle_after_a_call(runtime, make_app, timeout_s=0)
        self.stop_when_due(runtime)
        runtime.apply_event(event(ProcessExited(4242, 0), seq=4))
        tick(runtime.app)
        assert runtime.take_commands() == []  # run(0) succeeded before: a cache hit
        runtime.app.root.arg = 1
        tick(runtime.app)
        launch, call = runtime.take_commands()
        assert isinstance(launch, LaunchWork) and (launch.attempt, call.attempt) == (2, 2)
        assert call.call_hash == call_hash((1,), {})

    def test_a_call_while_the_idle_stop_is_on_its_way_goes_to_a_new_attempt(self, runtime, make_app):
        """A call made after the StopWork left but before the exit is never sent to the stopping process."""
        job = self.idle_after_a_call(runtime, make_app, timeout_s=0)
        self.stop_when_due(runtime)
        app = runtime.app
        app.root.arg = 1
        tick(app)
        launch, call = runtime.take_commands()
        assert (launch.attempt, call.attempt) == (2, 2)
        assert runtime.apply_event(event(ProcessExited(4242, 0), seq=4)) is False  # attempt 1's end: stale
        assert not job.has_stopped  # no stale idle stop over the new call

    def test_a_call_restarts_the_idle_timer(self, runtime, make_app):
        """Idle 4 s, a call, done: the process is stopped 5 s after that call ended, not 5 s after the first."""
        self.idle_after_a_call(runtime, make_app)
        self.stop_when_due(runtime)
        runtime.now = 104.0
        app = runtime.app
        app.root.arg = 1
        tick(app)
        [call] = runtime.take_commands()
        assert runtime.runtime.next_deadline() is None  # busy
        runtime.apply_event(event(StatusChanged(call.call_hash, make_status("running")), seq=4))
        runtime.now = 106.0
        runtime.apply_event(event(StatusChanged(call.call_hash, make_status("succeeded")), seq=5))
        assert self.stop_when_due(runtime) == []
        assert runtime.runtime.next_deadline() == 111.0

    def test_a_flow_stop_is_final_even_after_an_idle_stop(self, runtime, make_app):
        """work.stop() on a work stopped for idleness makes it stopped for good: calls send nothing."""
        job = self.idle_after_a_call(runtime, make_app, timeout_s=0)
        self.stop_when_due(runtime)
        runtime.apply_event(event(ProcessExited(4242, 0), seq=4))
        job.stop()
        assert job.status.reason == "pending"
        app = runtime.app
        app.root.arg = 1
        tick(app)
        assert runtime.take_commands() == []

    def test_works_without_idle_timeout_have_no_deadline(self, runtime, make_app):
        """An idle work without idle_timeout is never stopped for it."""
        app = make_app(parallel=True)
        launched(runtime, app)
        assert runtime.runtime.next_deadline() is None


class TestWaitTimeout:
    """A work with CloudCompute(wait_timeout=S): no process S s after its launch, its call fails with reason
    timeout (the former framework's documented behaviour), and its next call tries again."""

    @staticmethod
    def waiting(runtime: Rig, make_app, timeout_s: float = 60.0) -> LightningWork:  # noqa: ANN001
        """A work whose first call was launched and waits for a machine (the registry says why)."""
        from lightning_ctl.sdk._events import PlacementPending

        app = make_app(parallel=True, cloud_compute=CloudCompute("gpu", wait_timeout=timeout_s))
        tick(app)
        runtime.take_commands()
        runtime.runtime.apply(PlacementPending("root.job", 1, "no agent has a free GPU", for_capacity=True))
        return app.root.job

    def test_a_launch_without_a_process_fails_with_timeout_once_due(self, runtime, make_app):
        """At launch + 60 s (not before) the launch is called off and the call fails: reason timeout, a message
        naming the work, the timeout and why it waited; the app goes on."""
        job = self.waiting(runtime, make_app)
        assert runtime.runtime.next_deadline() == 160.0
        runtime.now = 159.9
        assert runtime.runtime.apply(DeadlineCheck()) == []
        runtime.now = 160.0
        out = runtime.runtime.apply(DeadlineCheck())
        stop = next(i for i in out if isinstance(i, StopWork))
        assert (stop.work_name, stop.attempt, stop.reason) == ("root.job", 1, "wait_timeout")
        assert any(isinstance(i, RunFlows) for i in out) and not any(isinstance(i, FailApp) for i in out)
        assert job.has_failed and job.has_timeout and job.num_timeouts == 1
        assert "root.job" in job.status.message and "60 s" in job.status.message
        assert "no agent has a free GPU" in job.status.message
        assert runtime.runtime.next_deadline() is None

    def test_a_process_that_started_in_time_never_times_out(self, runtime, make_app):
        """Once its process reported in, the work has no wait deadline."""
        job = self.waiting(runtime, make_app)
        runtime.apply_event(event(ProcessStarted(4242)))
        assert runtime.runtime.next_deadline() is None
        runtime.now = 1000.0
        assert runtime.runtime.apply(DeadlineCheck()) == []
        assert not job.has_failed

    def test_the_next_call_after_a_timeout_launches_a_new_attempt(self, runtime, make_app):
        """A new call after the timeout launches attempt 2 with its own deadline; attempt 1's late events are
        stale."""
        self.waiting(runtime, make_app, timeout_s=10.0)
        runtime.now = 110.0
        runtime.runtime.apply(DeadlineCheck())
        runtime.app.root.arg = 1
        tick(runtime.app)
        launch, call = runtime.take_commands()
        assert isinstance(launch, LaunchWork) and (launch.attempt, call.attempt) == (2, 2)
        assert runtime.runtime.next_deadline() == 120.0

    def test_works_without_wait_timeout_wait_as_long_as_it_takes(self, runtime, make_app):
        """A waiting work without wait_timeout has no deadline."""
        app = make_app(parallel=True, cloud_compute=CloudCompute("gpu"))
        tick(app)
        assert runtime.runtime.next_deadline() is None


def test_interruptible_is_said_to_have_no_effect_once(runtime, make_app) -> None:
    """A work asking for interruptible (spot) capacity is launched as any other, with one warning for the app."""
    from structlog.testing import capture_logs

    app = make_app(parallel=True, cloud_compute=CloudCompute("gpu", spot=True))
    with capture_logs() as logs:
        tick(app)
        app.root.arg = 1
        tick(app)
    assert isinstance(runtime.take_commands()[0], LaunchWork)
    warnings = [entry for entry in logs if entry["event"] == "interruptible_has_no_effect"]
    assert len(warnings) == 1 and warnings[0]["work_name"] == "root.job" and warnings[0]["log_level"] == "warning"
