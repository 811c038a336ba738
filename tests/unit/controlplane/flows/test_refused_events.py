"""Tests of what the flow runtime does with refused events and sequence numbers far ahead (the edge decides what is
refused; the runtime fails the work in the event's place, and keeps no unbounded buffer)."""

from __future__ import annotations

from lightning_ctl.controlplane.flows.sequencing import SEQ_WINDOW, EventSequencer
from lightning_ctl.sdk._events import InvalidEvent, ProcessExited, StopWork, VarsChanged, WorkEvent
from tests.unit.controlplane.flows.test_flow_runtime import event, launched

REASON = "work root.job: attribute _calls: private attributes never leave the work's process"


class TestInvalidEvent:
    def test_fails_the_work_stops_its_process_and_is_acknowledged(self, runtime, make_app):
        """A refused event fails the work (reason invalid_event, the message given), stops its process, and is
        acknowledged in its seq's place."""
        app = make_app(parallel=True, raise_exception=False)
        job = launched(runtime, app)
        assert runtime.apply_event(event(InvalidEvent(REASON), seq=2))
        status = job.status
        assert (status.stage, status.reason, status.message) == ("failed", "invalid_event", REASON)
        assert runtime.take_commands() == [StopWork("root.job", 1, REASON, 5.0)]
        assert [(a.work_name, a.seq) for a in runtime.runtime.take_acks()] == [("root.job", 2)]
        assert runtime.failure is None

    def test_fails_the_app_when_the_work_raises_exceptions(self, runtime, make_app):
        """With raise_exception=True (the default) the work's failure fails the app, naming the reason."""
        app = make_app(parallel=True)
        launched(runtime, app)
        runtime.apply_event(event(InvalidEvent(REASON), seq=0))
        assert runtime.failure is not None and REASON in runtime.failure.message

    def test_later_events_and_exit_change_nothing_more(self, runtime, make_app):
        """After the refusal, the work's exit adds no second failure."""
        app = make_app(parallel=True, raise_exception=False)
        job = launched(runtime, app)
        runtime.apply_event(event(InvalidEvent(REASON), seq=2))
        statuses = len(job.statuses)
        runtime.apply_event(event(ProcessExited(4242, -15, 15), seq=0))
        assert len(job.statuses) == statuses


class TestWindow:
    def test_events_far_ahead_are_dropped_not_kept(self):
        """Events more than SEQ_WINDOW ahead of the next expected one are dropped; those within it wait."""
        sequencer = EventSequencer()

        def change(seq: int) -> WorkEvent:
            return WorkEvent("root.job", 1, seq, VarsChanged({"count": seq}))

        for seq in range(SEQ_WINDOW + 2, SEQ_WINDOW + 20_002):
            assert sequencer.accept(change(seq)) == []
        assert sequencer.accept(change(3)) == []
        assert list(sequencer.early) == [3]
        assert sequencer.accept(change(1)) == [change(1)]
        assert sequencer.accept(change(2)) == [change(2), change(3)]
        assert (sequencer.applied_seq, sequencer.early) == (3, {})
