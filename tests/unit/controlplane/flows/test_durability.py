"""Tests for what the flow runtime keeps across a crash of the control plane: numbered commands, unconfirmed
commands sent again, records restored from a checkpoint, processes found gone on resume, attempt numbers.

The state machine is driven directly, as in ``test_flow_runtime`` (whose rig and app this module reuses); a
"restart" is a new FlowRuntime restored from the records the first one handed to its checkpoint.
"""

from __future__ import annotations

import json

from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime
from lightning_ctl.controlplane.flows.stimuli import FlowCalledWork, FlowsRan
from lightning_ctl.sdk import Path, RestartPolicy
from lightning_ctl.sdk._events import (
    AgentConnected,
    LaunchWork,
    ProcessExited,
    RunCall,
    RunningWork,
    StatusChanged,
    StopWork,
    UpdateVars,
    VarsChanged,
)
from lightning_ctl.sdk._hashing import call_hash
from lightning_ctl.sdk._status import make_status
from tests.unit.controlplane.flows.test_flow_runtime import APP_PATH, ENV, GRACE_S, Rig, event, launched, tick


def _called(app) -> FlowCalledWork:
    """The root flow calling its work with ``app.root.arg`` (as the SDK's dispatch would)."""
    arg = app.root.arg
    return FlowCalledWork(app.root.job, call_hash((arg,), {}), (arg,), {})


def _flows_ran(app) -> FlowsRan:
    return FlowsRan(tuple(app.works))


def restarted(rig: Rig, **kwargs) -> FlowRuntime:
    """A new runtime restored from every record ``rig``'s runtime would have checkpointed (as JSON, as saved)."""
    records = json.loads(json.dumps(rig.runtime.take_changed_records()))
    restored = FlowRuntime(APP_PATH, dict(ENV), GRACE_S, find_work=rig.runtime.find_work, **kwargs)
    restored.restore(records, rig.runtime.find_work)
    return restored


def reconnect(runtime: FlowRuntime, *running: RunningWork, expected=()) -> list:
    return [i for i in runtime.apply(AgentConnected("box", tuple(running), tuple(expected)))
            if isinstance(i, (LaunchWork, RunCall, UpdateVars, StopWork))]


def update_then_call(rig: Rig, app) -> list:
    """Launch the work (call 1), let the flow change its knob (update 2) and call it again (call 3); the commands
    after the launch."""
    launched(rig, app)
    app.root.job.knob = 5
    rig.flows_ran(app)
    app.root.arg = 1
    tick(app)
    return rig.take_commands()


class TestCommandNumbers:
    def test_calls_and_updates_share_one_numbering(self, runtime, make_app):
        """Call 1, then the flow's update 2, then call 3: one sequence per attempt, so the work orders them all."""
        commands = update_then_call(runtime, make_app(parallel=True))
        assert [(type(c).__name__, c.command_seq) for c in commands] == [
            ("UpdateVars", 2), ("RunCall", 3)]

    def test_a_restored_runtime_numbers_after_every_command_it_recorded(self, runtime, make_app):
        """The restored record's command count covers every command sent: the next one never reuses a number."""
        app = make_app(parallel=True)
        launched(runtime, app)
        restored = restarted(runtime)
        app.root.arg = 1
        call = restored.apply(_called(app))[-1]
        assert isinstance(call, RunCall) and call.command_seq == 2

    def test_an_update_is_sent_again_after_a_reconnection_until_its_echo(self, runtime, make_app):
        """An update may be lost with a session: it goes again on reconnection; once echoed, it does not."""
        app = make_app(parallel=True)
        launched(runtime, app)
        running = RunningWork("root.job", 1, 4242)
        app.root.job.knob = 5
        runtime.flows_ran(app)
        update = runtime.take_commands()[0]
        assert update in reconnect(runtime.runtime, running)
        runtime.apply_event(event(VarsChanged({"knob": 5}, command_seq=update.command_seq), seq=2))
        assert not any(isinstance(c, UpdateVars) for c in reconnect(runtime.runtime, running))

    def test_a_call_status_confirms_the_updates_before_it(self, runtime, make_app):
        """The work applies commands in order: a status of call 3 shows it has update 2 too."""
        update_then_call(runtime, make_app(parallel=True))
        runtime.apply_event(event(StatusChanged(call_hash((1,), {}), make_status("running")), seq=2))
        resent = reconnect(runtime.runtime, RunningWork("root.job", 1, 4242))
        assert [c.command_seq for c in resent if isinstance(c, (RunCall, UpdateVars))] == [1]

    def test_unconfirmed_commands_survive_a_restart_and_go_again_in_order(self, runtime, make_app):
        """Restored from its checkpoint, the runtime sends the agent every command the work has not confirmed."""
        app = make_app(parallel=True)
        launched(runtime, app)
        app.root.job.knob = 5
        runtime.flows_ran(app)
        restored = restarted(runtime)
        resent = reconnect(restored, RunningWork("root.job", 1, 4242), expected=[("root.job", 1)])
        assert [(type(c).__name__, c.command_seq) for c in resent] == [("RunCall", 1), ("UpdateVars", 2)]

    def test_a_path_the_work_reported_is_not_sent_back_as_a_change(self, runtime, make_app):
        """A Path arrives as its tagged dict and becomes a Path in the flow: both sides agree, nothing goes back."""
        app = make_app(parallel=True)
        launched(runtime, app)
        runtime.apply_event(event(VarsChanged({"knob": Path("/data/x.txt").__json__()}), seq=2))
        assert isinstance(app.root.job.knob, Path)
        assert runtime.runtime.apply(_flows_ran(app)) == []

    def test_a_restored_runtime_sends_no_update_for_what_the_work_already_has(self, runtime, make_app):
        """What both sides agreed on before the crash is not sent again as a change after it."""
        app = make_app(parallel=True)
        launched(runtime, app)
        runtime.apply_event(event(VarsChanged({"knob": 3}), seq=2))
        restored = restarted(runtime)
        assert restored.apply(_flows_ran(app)) == []


class TestResume:
    def test_a_process_gone_on_resume_starts_again_whatever_its_policy(self, runtime, make_app):
        """Restored, its agent back without it: a new attempt runs the interrupted call; the status says why."""
        app = make_app(parallel=True, restart_policy=RestartPolicy.never())
        job = launched(runtime, app)
        h0 = call_hash((0,), {})
        runtime.apply_event(event(StatusChanged(h0, make_status("running")), seq=2))
        restored = restarted(runtime)
        commands = reconnect(restored, expected=[("root.job", 1)])
        launch, call = commands
        assert isinstance(launch, LaunchWork) and launch.attempt == 2 and launch.start_action is False
        assert isinstance(call, RunCall) and (call.attempt, call.call_hash, call.command_seq) == (2, h0, 1)
        assert job.status.stage == "pending" and "the app resumed" in job.status.message
        assert "was gone when its agent came back" in job.status.message
        assert restored.works["root.job"].restarts == 0

    def test_an_idle_started_work_gone_on_resume_starts_again_with_its_start_action(self, runtime, make_app):
        """A work with no call running comes back through on_start (the start action), not through a call."""
        app = make_app(parallel=True)
        launched(runtime, app)
        h0 = call_hash((0,), {})
        runtime.apply_event(event(StatusChanged(h0, make_status("running")), seq=2))
        runtime.apply_event(event(StatusChanged(h0, make_status("succeeded")), seq=3))
        (launch,) = reconnect(restarted(runtime), expected=[("root.job", 1)])
        assert launch.attempt == 2 and launch.start_action is True

    def test_a_process_gone_while_the_control_plane_ran_follows_the_policy(self, runtime, make_app):
        """Not restored (heard of since the start): its loss is the work's, and a never policy fails it."""
        app = make_app(parallel=True, restart_policy=RestartPolicy.never(), raise_exception=False)
        job = launched(runtime, app)
        assert reconnect(runtime.runtime, expected=[("root.job", 1)]) == []
        assert job.has_failed and "was gone when its agent came back" in job.status.message

    def test_a_process_heard_of_after_resume_then_lost_follows_the_policy(self, runtime, make_app):
        """Once a restored process reports in, a later loss is an ordinary one."""
        app = make_app(parallel=True, restart_policy=RestartPolicy.never(), raise_exception=False)
        job = launched(runtime, app)
        restored = restarted(runtime)
        reconnect(restored, RunningWork("root.job", 1, 4242), expected=[("root.job", 1)])
        restored.apply(event(ProcessExited(4242, 1), seq=0))
        assert job.has_failed

    def test_a_stopped_work_gone_on_resume_stays_stopped(self, runtime, make_app):
        """The flow stopped it before the crash: gone means stopped, never started again."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        job.stop()
        runtime.take_commands()
        assert reconnect(restarted(runtime), expected=[("root.job", 1)]) == []
        assert job.has_stopped

    def test_a_launch_recorded_but_never_started_is_sent_again(self, runtime, make_app):
        """A launch the crash may have cut off goes again (the agent ignores a launch it already has)."""
        app = make_app(parallel=True)
        tick(app)
        runtime.take_commands()
        resent = reconnect(restarted(runtime))
        assert [type(c).__name__ for c in resent] == ["LaunchWork", "RunCall"]


class TestAttempts:
    def test_a_fresh_run_numbers_attempts_after_those_of_earlier_runs(self, runtime, make_app):
        """Attempt numbers are never reused for one app: a process an earlier run left is never taken for ours."""
        app = make_app(parallel=True)
        fresh = FlowRuntime(APP_PATH, dict(ENV), GRACE_S, find_work=runtime.runtime.find_work,
                            last_attempts={"root.job": 4})
        launch = fresh.apply(_called(app))[0]
        assert isinstance(launch, LaunchWork) and launch.attempt == 5

    def test_restarts_are_counted_apart_from_attempt_numbers(self, runtime, make_app):
        """max_restarts=1 allows one restart even when attempts start at 5: the second loss fails the work."""
        app = make_app(parallel=True, restart_policy=RestartPolicy.on_failure(max_restarts=1),
                       raise_exception=False)
        rig = runtime
        rig.runtime = FlowRuntime(APP_PATH, dict(ENV), GRACE_S, find_work=rig.runtime.find_work,
                                  last_attempts={"root.job": 4})
        rig.runtime.apply(_called(app))
        rig.apply_event(event(ProcessExited(1, 1), attempt=5, seq=0))
        assert rig.runtime.works["root.job"].attempt == 6
        rig.apply_event(event(ProcessExited(2, 1), attempt=6, seq=0))
        assert app.root.job.has_failed


class TestChangedRecords:
    def test_only_the_works_a_stimulus_touched_are_handed_to_the_checkpoint(self, runtime, make_app):
        """An event of one work changes that work's record alone; nothing changed hands over nothing."""
        app = make_app(parallel=True)
        launched(runtime, app)
        runtime.runtime.take_changed_records()
        assert runtime.runtime.take_changed_records() == {}
        runtime.apply_event(event(VarsChanged({"count": 1}), seq=2))
        assert list(runtime.runtime.take_changed_records()) == ["root.job"]

