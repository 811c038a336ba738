"""Tests for controlplane.runtime.FlowRuntime: flow actions become commands, work events become flow state.

Driven directly on the test thread: no loop, no gRPC, no processes.
"""

from __future__ import annotations

import pytest

from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._events import (
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
from lightning_ctl.sdk._runtime import set_runtime
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


@pytest.fixture
def runtime():
    """A FlowRuntime installed as the SDK's runtime, reset to None afterwards."""
    rt = FlowRuntime(app_path=APP_PATH, env=dict(ENV), stop_grace_s=GRACE_S)
    set_runtime(rt)
    yield rt
    set_runtime(None)


def make_app(**work_kwargs) -> LightningApp:
    return LightningApp(Root(**work_kwargs))


def tick(app: LightningApp) -> None:
    """Run the root flow once, as the loop does (a call interrupt ends the run)."""
    try:
        app.root.run()
    except CacheMissException:
        pass


def event(body, attempt: int = 1, seq: int = 1, work_name: str = "root.job") -> WorkEvent:
    return WorkEvent(work_name, attempt, seq, body)


def launched(runtime: FlowRuntime, app: LightningApp, pid: int = 4242) -> LightningWork:
    """Make the work's first call and report its process as started; the commands are discarded."""
    tick(app)
    runtime.take_commands()
    runtime.apply_event(app.root.job, event(ProcessStarted(pid)))
    return app.root.job


class TestCallCommands:
    def test_first_call_launches_then_runs(self, runtime):
        """A work's first call produces LaunchWork (attempt 1) then RunCall for the same attempt."""
        app = make_app(parallel=True)
        tick(app)
        launch, call = runtime.take_commands()
        assert isinstance(launch, LaunchWork) and isinstance(call, RunCall)
        assert (launch.work_name, launch.attempt) == ("root.job", 1)
        assert (launch.app_path, launch.env) == (APP_PATH, ENV)
        assert launch.start_action is False and launch.stop_grace_s == GRACE_S
        assert call == RunCall("root.job", 1, call_hash((0,), {}), [0], {}, {}, call_seq=1)

    def test_launch_describes_how_to_rebuild_the_work(self, runtime):
        """LaunchWork names the work class and carries its JSON constructor arguments."""
        app = make_app(parallel=True)
        tick(app)
        launch = runtime.take_commands()[0]
        assert launch.work_class == f"{Job.__module__}:Job"
        assert launch.init_args == {"args": [], "kwargs": {"parallel": True}}

    def test_launch_carries_the_flows_view_of_the_vars(self, runtime):
        """LaunchWork.vars holds the work's state attributes (flow-set values too), not _cloud_compute."""
        app = make_app(parallel=True)
        app.root.job.knob = 9
        tick(app)
        launch = runtime.take_commands()[0]
        assert launch.vars["knob"] == 9 and launch.vars["count"] == 0
        assert launch.vars["_host"] == "127.0.0.1"
        assert "_cloud_compute" not in launch.vars

    def test_non_parallel_call_interrupts_after_queueing_commands(self, runtime):
        """A non-parallel work's first call raises CacheMissException but its commands are queued."""
        app = make_app()
        with pytest.raises(CacheMissException):
            app.root.run()
        assert [type(c) for c in runtime.take_commands()] == [LaunchWork, RunCall]

    def test_repeated_call_sends_nothing(self, runtime):
        """Calling again with the same arguments while pending sends no command."""
        app = make_app(parallel=True)
        tick(app)
        runtime.take_commands()
        tick(app)
        assert runtime.take_commands() == []

    def test_new_arguments_reuse_the_process(self, runtime):
        """A call with new arguments to a live work sends only a RunCall for the same attempt."""
        app = make_app(parallel=True)
        launched(runtime, app)
        app.root.arg = 1
        tick(app)
        assert runtime.take_commands() == [RunCall("root.job", 1, call_hash((1,), {}), [1], {}, {}, call_seq=2)]

    def test_run_call_carries_unsent_flow_changes(self, runtime):
        """RunCall.vars holds the work attributes the flow changed since the work last saw them."""
        app = make_app(parallel=True)
        launched(runtime, app)
        app.root.job.knob = 5
        app.root.arg = 1
        tick(app)
        [call] = runtime.take_commands()
        assert call.vars == {"knob": 5}
        assert runtime.sync_running_works(app.works) is False
        assert runtime.take_commands() == []

    def test_take_commands_empties_the_queue(self, runtime):
        """take_commands returns the commands once."""
        app = make_app(parallel=True)
        tick(app)
        assert len(runtime.take_commands()) == 2
        assert runtime.take_commands() == []

    def test_start_launches_with_the_start_action(self, runtime):
        """work.start() sends LaunchWork with start_action=True; a later call reuses that process."""
        app = make_app(parallel=True)
        app.root.job.start()
        [launch] = runtime.take_commands()
        assert launch.start_action is True and launch.attempt == 1
        assert app.root.job._calls["latest_call_hash"] == START_CALL_HASH
        tick(app)
        assert [type(c) for c in runtime.take_commands()] == [RunCall]


class TestUpdateVars:
    def test_flow_change_to_running_work_is_sent(self, runtime):
        """After a tick, a flow change to a running work's public attribute becomes UpdateVars."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.knob = 7
        assert runtime.sync_running_works(app.works) is True
        assert runtime.take_commands() == [UpdateVars("root.job", 1, {"knob": 7})]

    def test_change_is_sent_once(self, runtime):
        """A change already sent is not sent again."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.knob = 7
        runtime.sync_running_works(app.works)
        runtime.take_commands()
        assert runtime.sync_running_works(app.works) is False
        assert runtime.take_commands() == []

    def test_in_place_mutation_is_sent(self, runtime):
        """A flow-side in-place change of a list attribute is noticed and sent whole."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.knob = [1]
        runtime.sync_running_works(app.works)
        runtime.take_commands()
        job.knob.append(2)
        runtime.sync_running_works(app.works)
        assert runtime.take_commands() == [UpdateVars("root.job", 1, {"knob": [1, 2]})]

    def test_private_attributes_are_not_sent(self, runtime):
        """Private attributes set by the flow never reach the work."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job._local = 3
        assert runtime.sync_running_works(app.works) is False

    def test_work_without_process_gets_nothing(self, runtime):
        """A work that was never launched gets no UpdateVars (its launch will carry its vars)."""
        app = make_app(parallel=True)
        app.root.job.knob = 3
        assert runtime.sync_running_works(app.works) is False
        assert runtime.take_commands() == []

    def test_values_from_the_work_are_not_echoed(self, runtime):
        """A value the work reported is not sent back to it."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        assert runtime.apply_event(job, event(VarsChanged({"count": 3, "knob": 4}), seq=2)) is True
        assert (job.count, job.knob) == (3, 4)
        assert runtime.sync_running_works(app.works) is False


class TestStop:
    def test_stop_sends_stop_work_and_records_pending_stop(self, runtime):
        """work.stop() sends StopWork with the runtime's grace and appends stopped (reason pending)."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.stop()
        [stop] = runtime.take_commands()
        assert isinstance(stop, StopWork)
        assert (stop.work_name, stop.attempt, stop.grace_s) == ("root.job", 1, GRACE_S)
        assert job.has_stopped and job.status.reason == "pending"

    def test_stop_without_process_sends_nothing(self, runtime):
        """Stopping a work that has no process sends no command but marks it stopped."""
        app = make_app(parallel=True)
        app.root.job.stop()
        assert runtime.take_commands() == []
        assert app.root.job.has_stopped

    def test_stop_all_stops_live_processes(self, runtime):
        """stop_all sends StopWork with the reason to every work whose process is up, and names them."""
        app = make_app(parallel=True)
        launched(runtime, app)
        assert runtime.stop_all("the app is ending", 2.0) == ["root.job"]
        assert runtime.take_commands() == [StopWork("root.job", 1, "the app is ending", 2.0)]

    def test_stop_all_skips_works_not_started(self, runtime):
        """A launched work whose process has not reported started is not in stop_all."""
        app = make_app(parallel=True)
        tick(app)
        runtime.take_commands()
        assert runtime.stop_all("bye", 1.0) == []


class TestEvents:
    def test_status_events_drive_the_flow_view(self, runtime):
        """running then succeeded statuses make the work running, then succeeded with one success."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        h0 = call_hash((0,), {})
        runtime.apply_event(job, event(StatusChanged(h0, make_status("running")), seq=2))
        assert job.is_running and job._calls["latest_call_hash"] == h0
        runtime.apply_event(job, event(StatusChanged(h0, make_status("succeeded")), seq=3))
        assert job.has_succeeded and job.num_successes == 1
        tick(app)
        assert runtime.take_commands() == []  # a cache hit: nothing sent

    def test_started_records_the_pid_without_running_the_flow(self, runtime):
        """ProcessStarted records the pid and does not ask for a run."""
        app = make_app(parallel=True)
        tick(app)
        assert runtime.apply_event(app.root.job, event(ProcessStarted(77))) is False
        assert runtime.works["root.job"].pid == 77

    def test_stale_attempt_is_ignored(self, runtime):
        """An event of another attempt changes nothing."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        assert runtime.apply_event(job, event(VarsChanged({"count": 9}), attempt=2)) is False
        assert job.count == 0

    def test_event_of_unknown_work_is_ignored(self, runtime):
        """An event for a work the runtime never launched changes nothing."""
        app = make_app(parallel=True)
        assert runtime.apply_event(app.root.job, event(VarsChanged({"count": 9}))) is False
        assert app.root.job.count == 0

    def test_crash_sets_the_failure(self, runtime):
        """WorkCrashed sets runtime.failure with the work's name and traceback."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        trace = 'Traceback (most recent call last):\n  File "app.py", line 3\nValueError: bad\n'
        assert runtime.apply_event(job, event(WorkCrashed(trace), seq=2)) is True
        assert runtime.failure.work_name == "root.job"
        assert "ValueError: bad" in runtime.failure.message and "root.job" in runtime.failure.message

    def test_exit_with_raise_exception_fails_the_app(self, runtime):
        """An exit fails the call (process_exited) and, with raise_exception, the app, naming the code."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        assert runtime.apply_event(job, event(ProcessExited(4242, 3), seq=2)) is True
        assert job.has_failed and job.status.reason == "process_exited"
        assert "exited with code 3" in job.status.message
        assert runtime.failure.work_name == "root.job"
        assert "exited with code 3" in runtime.failure.message

    def test_killed_by_signal_names_the_signal(self, runtime):
        """A process killed by a signal fails with a message naming the signal."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        runtime.apply_event(job, event(ProcessExited(4242, -9, 9), seq=2))
        assert "killed by signal 9 (SIGKILL)" in runtime.failure.message

    def test_exit_without_raise_exception_only_fails_the_call(self, runtime):
        """With raise_exception=False an exit marks the call failed but does not fail the app."""
        app = make_app(parallel=True, raise_exception=False)
        job = launched(runtime, app)
        runtime.apply_event(job, event(ProcessExited(4242, 1), seq=2))
        assert job.has_failed
        assert runtime.failure is None

    def test_exit_after_crash_adds_no_status(self, runtime):
        """After the work reported its own failure and crash, its exit adds no status."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        h0 = call_hash((0,), {})
        runtime.apply_event(job, event(StatusChanged(h0, make_status("running")), seq=2))
        failed = make_status("failed", message="Traceback ...", reason="user_exception")
        runtime.apply_event(job, event(StatusChanged(h0, failed), seq=3))
        runtime.apply_event(job, event(WorkCrashed("Traceback ..."), seq=4))
        runtime.apply_event(job, event(ProcessExited(4242, 1), seq=5))
        assert [s.stage for s in job.statuses] == ["pending", "running", "failed"]
        assert job.status.reason == "user_exception"

    def test_exit_after_stop_ends_with_sigterm_reason(self, runtime):
        """An exit by code after stop() appends stopped with reason sigterm_signal_handler."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.stop()
        runtime.apply_event(job, event(ProcessExited(4242, 0), seq=2))
        assert job.has_stopped and job.status.reason == "sigterm_signal_handler"
        assert runtime.failure is None

    def test_exit_by_signal_after_stop_is_killed_after_grace(self, runtime):
        """An exit by signal after stop() appends stopped with reason killed_after_grace."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.stop()
        runtime.apply_event(job, event(ProcessExited(4242, -9, 9), seq=2))
        assert job.has_stopped and job.status.reason == "killed_after_grace"
        assert runtime.failure is None

    def test_a_stop_nobody_asked_for_hands_the_work_to_its_restart_policy(self, runtime):
        """A work that stopped on a SIGTERM the flow never sent (its agent drained: a preempted or cancelled job)
        lost its process: with RestartPolicy.on_failure it is launched again."""
        from lightning_ctl.sdk import RestartPolicy
        from lightning_ctl.sdk._events import LaunchWork

        app = make_app(parallel=True, restart_policy=RestartPolicy.on_failure(1))
        job = launched(runtime, app)
        stopped = make_status("stopped", reason="sigterm_signal_handler")
        runtime.apply_event(job, event(StatusChanged("whatever", stopped), seq=2))
        runtime.apply_event(job, event(ProcessExited(4242, 255), seq=3))
        relaunched = [c for c in runtime.take_commands() if isinstance(c, LaunchWork)]
        assert [c.attempt for c in relaunched] == [2]
        assert runtime.failure is None

    def test_reported_stop_is_not_duplicated_on_exit(self, runtime):
        """When the work reported stopped itself, its exit adds no second stopped status."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.stop()
        stopped = make_status("stopped", reason="sigterm_signal_handler")
        runtime.apply_event(job, event(StatusChanged("whatever", stopped), seq=2))
        runtime.apply_event(job, event(ProcessExited(4242, 0), seq=3))
        assert [(s.stage, s.reason) for s in job.statuses] == [
            ("pending", None),
            ("stopped", "pending"),
            ("stopped", "sigterm_signal_handler"),
        ]

    def test_call_after_exit_relaunches_with_next_attempt(self, runtime):
        """After the process exited, a new call launches attempt 2; attempt 1's events are then ignored."""
        app = make_app(parallel=True, raise_exception=False)
        job = launched(runtime, app)
        runtime.apply_event(job, event(ProcessExited(4242, 1), seq=2))
        app.root.arg = 1
        tick(app)
        launch, call = runtime.take_commands()
        assert (launch.attempt, call.attempt) == (2, 2)
        assert runtime.apply_event(job, event(VarsChanged({"count": 5}), attempt=1, seq=3)) is False
        assert job.count == 0
