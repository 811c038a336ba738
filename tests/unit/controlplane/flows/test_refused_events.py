"""Tests of what the flow runtime does with refused events and sequence numbers far ahead (the edge decides what is
refused; the runtime fails the work in the event's place, and keeps no unbounded buffer)."""

from __future__ import annotations

import pytest

from lightning_ctl.controlplane.flows.flow_runtime import SEQ_WINDOW, FlowRuntime
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._events import InvalidEvent, ProcessStarted, StopWork, VarsChanged, WorkEvent
from lightning_ctl.sdk._runtime import set_runtime
from lightning_ctl.sdk.errors import CacheMissException

REASON = "work root.job: attribute _calls: private attributes never leave the work's process"


class Job(LightningWork):
    def __init__(self, **kwargs) -> None:
        super().__init__(start_with_flow=False, parallel=True, **kwargs)
        self.count = 0

    def run(self) -> None:
        pass


class Root(LightningFlow):
    def __init__(self, **work_kwargs) -> None:
        super().__init__()
        self.job = Job(**work_kwargs)

    def run(self) -> None:
        self.job.run()


@pytest.fixture
def runtime():
    rt = FlowRuntime(app_path="/apps/app.py", env={}, stop_grace_s=5.0)
    set_runtime(rt)
    yield rt
    set_runtime(None)


def started(runtime: FlowRuntime, **work_kwargs) -> LightningApp:
    """An app whose work's process is running (its launch commands discarded)."""
    app = LightningApp(Root(**work_kwargs))
    try:
        app.root.run()
    except CacheMissException:
        pass
    runtime.take_commands()
    runtime.apply_event(app.root.job, WorkEvent("root.job", 1, 0, ProcessStarted(4242)))
    return app


class TestInvalidEvent:
    def test_fails_the_work_stops_its_process_and_is_acknowledged(self, runtime):
        """A refused event fails the work (reason invalid_event, the message given), stops its process, and is
        acknowledged in its seq's place."""
        app = started(runtime, raise_exception=False)
        assert runtime.apply_event(app.root.job, WorkEvent("root.job", 1, 1, InvalidEvent(REASON)))
        status = app.root.job.status
        assert (status.stage, status.reason, status.message) == ("failed", "invalid_event", REASON)
        assert runtime.take_commands() == [StopWork("root.job", 1, REASON, 5.0)]
        assert [(a.work_name, a.seq) for a in runtime.take_acks()] == [("root.job", 1)]
        assert runtime.failure is None

    def test_fails_the_app_when_the_work_raises_exceptions(self, runtime):
        """With raise_exception=True (the default) the work's failure fails the app, naming the reason."""
        app = started(runtime)
        runtime.apply_event(app.root.job, WorkEvent("root.job", 1, 0, InvalidEvent(REASON)))
        assert runtime.failure is not None and REASON in runtime.failure.message

    def test_later_events_and_exit_change_nothing_more(self, runtime):
        """After the refusal, the work's exit adds no second failure."""
        from lightning_ctl.sdk._events import ProcessExited

        app = started(runtime, raise_exception=False)
        runtime.apply_event(app.root.job, WorkEvent("root.job", 1, 1, InvalidEvent(REASON)))
        statuses = len(app.root.job.statuses)
        runtime.apply_event(app.root.job, WorkEvent("root.job", 1, 0, ProcessExited(4242, -15, 15)))
        assert len(app.root.job.statuses) == statuses


class TestWindow:
    def test_events_far_ahead_are_dropped_not_kept(self, runtime):
        """Events more than SEQ_WINDOW ahead of the next expected one are dropped; those within it wait."""
        app = started(runtime)
        job = app.root.job
        for seq in range(SEQ_WINDOW + 2, SEQ_WINDOW + 20_002):
            runtime.apply_event(job, WorkEvent("root.job", 1, seq, VarsChanged({"count": seq})))
        runtime.apply_event(job, WorkEvent("root.job", 1, 3, VarsChanged({"count": 3})))
        process = runtime.works["root.job"]
        assert list(process.early) == [3]
        runtime.apply_event(job, WorkEvent("root.job", 1, 1, VarsChanged({"count": 1})))
        runtime.apply_event(job, WorkEvent("root.job", 1, 2, VarsChanged({"count": 2})))
        assert (process.applied_seq, job.count, process.early) == (3, 3, {})
