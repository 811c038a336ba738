"""Tests for controlplane.loop.FlowLoop: how the flow thread ticks, reacts to events and ends the app.

The loop runs on its own thread with plain callables for its outputs; events go straight into ``loop.inbox``.
No gRPC, no processes. Waiting is done with deadlines; the only fixed sleeps are the tick-measuring windows.
"""

from __future__ import annotations

import queue
import threading
import time

import pytest

from lightning_ctl.controlplane.errors import CheckpointError
from lightning_ctl.controlplane.flows import loop as loop_module
from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime
from lightning_ctl.controlplane.flows.loop import AppEnded, FlowLoop, StopRequested
from lightning_ctl.sdk import AppStage, LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._events import (
    Command,
    EventsApplied,
    LaunchWork,
    PlacementPending,
    ProcessExited,
    ProcessStarted,
    RunCall,
    StatusChanged,
    StopWork,
    VarsChanged,
    WorkCrashed,
    WorkEvent,
    WorkUnreachable,
)
from lightning_ctl.sdk._runtime import set_runtime
from lightning_ctl.sdk._status import make_status
from tests.helpers import wait_until

END_TIMEOUT_S = 10.0
MEASURE_WINDOW_S = 0.5


class Job(LightningWork):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("start_with_flow", False)
        super().__init__(parallel=True, **kwargs)
        self.count = 0

    def run(self) -> None:
        self.count += 1


class Idle(LightningFlow):
    """Changes nothing: after the first run, only events should make it run again."""

    def run(self) -> None:
        pass


class Busy(LightningFlow):
    """Changes its own state on every run: the loop should keep running it at its steady pace."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def run(self) -> None:
        self.runs += 1


class Stops(LightningFlow):
    def run(self) -> None:
        self.stop("bye")


class Fails(LightningFlow):
    def run(self) -> None:
        self.fail("it broke")


class Raises(LightningFlow):
    def run(self) -> None:
        self.compute_ratio()

    def compute_ratio(self) -> float:
        return 1 / 0


class WaitsForWork(LightningFlow):
    """Calls its work and stops once the work reports count >= 3."""

    def __init__(self, **work_kwargs) -> None:
        super().__init__()
        self.job = Job(**work_kwargs)

    def run(self) -> None:
        self.job.run()
        if self.job.count >= 3:
            self.stop()


class Gated(LightningFlow):
    """Calls its work; once the work reported started, each run waits until ``gate`` opens."""

    def __init__(self) -> None:
        super().__init__()
        self.job = Job()
        self._gate = threading.Event()
        self._waiting = threading.Event()

    def run(self) -> None:
        self.job.run()
        if self.job.status.stage == "running" or self.job.count:
            self._waiting.set()
            self._gate.wait(END_TIMEOUT_S)


class LaunchesThenStops(LightningFlow):
    """Calls a parallel work and ends the app in the same run, before the work's process reports started."""

    def __init__(self) -> None:
        super().__init__()
        self.job = Job()

    def run(self) -> None:
        self.job.run()
        self.stop()


class TwoStarting(LightningFlow):
    """Two works started with the flow; records the stage of each on every run."""

    def __init__(self) -> None:
        super().__init__()
        self.placed = Job(start_with_flow=True)
        self.waiting = Job(start_with_flow=True)
        self.seen: list[list[str]] = []

    def run(self) -> None:
        self.seen.append([self.placed.status.stage, self.waiting.status.stage])


class Harness:
    """A FlowLoop with recorded outputs."""

    def __init__(self, root: LightningFlow, grace_s: float = 1.0) -> None:
        self.app = LightningApp(root)
        self.runtime = FlowRuntime(app_path="/apps/app.py", env={}, stop_grace_s=grace_s)
        self.commands: list[Command] = []
        self._lock = threading.Lock()
        self.ended: queue.Queue[AppEnded] = queue.Queue()
        self.loop = FlowLoop(self.app, self.runtime, self._send, self.ended.put)

    def _send(self, commands: list[Command]) -> None:
        with self._lock:
            self.commands.extend(commands)

    def sent(self, kind: type | None = None) -> list[Command]:
        with self._lock:
            return [c for c in self.commands if kind is None or isinstance(c, kind)]

    def put(self, body, seq: int, work_name: str = "root.job", attempt: int = 1) -> None:
        self.loop.inbox.put(WorkEvent(work_name, attempt, seq, body))

    def wait_end(self, timeout_s: float = END_TIMEOUT_S) -> AppEnded:
        try:
            return self.ended.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"the app did not end within {timeout_s}s") from None


@pytest.fixture
def harness():
    """Build and start loops; any loop still running at the end is asked to stop, and the runtime is reset."""
    made: list[Harness] = []

    def make(root: LightningFlow, grace_s: float = 1.0, start: bool = True) -> Harness:
        h = Harness(root, grace_s)
        made.append(h)
        if start:
            h.loop.start()
        return h

    yield make
    for h in made:
        if h.loop._thread.is_alive():
            h.loop.inbox.put(StopRequested(0, "test teardown"))
            h.loop._thread.join(timeout=END_TIMEOUT_S)
    set_runtime(None)


class TestEnding:
    def test_stop_ends_with_status_zero(self, harness):
        """A flow calling self.stop() ends the app with AppEnded(0) and stage stopping."""
        h = harness(Stops())
        assert h.wait_end() == AppEnded(0)
        assert h.app.stage == AppStage.STOPPING

    def test_fail_ends_with_status_one_and_message(self, harness):
        """A flow calling self.fail(msg) ends the app with AppEnded(1, ...) naming the message."""
        h = harness(Fails())
        ended = h.wait_end()
        assert ended.exit_code == 1 and "it broke" in ended.message
        assert h.app.stage == AppStage.FAILED

    def test_exception_ends_with_status_one_and_traceback(self, harness):
        """An exception in the flow ends the app with AppEnded(1) whose message holds the traceback."""
        h = harness(Raises())
        ended = h.wait_end()
        assert ended.exit_code == 1
        assert "Traceback" in ended.message
        assert "compute_ratio" in ended.message and "ZeroDivisionError" in ended.message
        assert h.app.stage == AppStage.FAILED

    def test_exception_traceback_points_at_user_code(self, harness):
        """The flow's traceback starts in user code, without the control plane's own frames."""
        h = harness(Raises())
        ended = h.wait_end()
        lines = ended.message.splitlines()
        first_frame = lines[lines.index("Traceback (most recent call last):") + 1]
        assert first_frame.strip().startswith(f'File "{__file__}"') and first_frame.endswith("in run")
        assert "controlplane/loop.py" not in ended.message and "_tick" not in ended.message

    def test_stop_requested_ends_with_its_code(self, harness):
        """A StopRequested in the inbox ends the app with its exit code and reason."""
        h = harness(Idle())
        wait_until(lambda: h.loop.ticks >= 1, timeout_s=END_TIMEOUT_S)
        started = time.monotonic()
        h.loop.inbox.put(StopRequested(130, "interrupted"))
        assert h.wait_end() == AppEnded(130, "interrupted")
        # The idle loop wakes for it rather than waiting out its idle timeout.
        assert time.monotonic() - started < 0.5
        assert h.app.stage == AppStage.STOPPING

    def test_work_crash_fails_the_app(self, harness):
        """A WorkCrashed event ends the app with status 1 and the work's traceback."""
        h = harness(WaitsForWork())
        wait_until(lambda: h.sent(RunCall), timeout_s=END_TIMEOUT_S)
        h.put(WorkCrashed("Traceback (most recent call last):\nValueError: bad input\n"), seq=1)
        ended = h.wait_end()
        assert ended.exit_code == 1
        assert "ValueError: bad input" in ended.message and "root.job" in ended.message
        assert h.app.stage == AppStage.FAILED

    def test_unexpected_exit_fails_the_app(self, harness):
        """A work process exiting on its own (raise_exception=True) ends the app naming the exit code."""
        h = harness(WaitsForWork())
        wait_until(lambda: h.sent(RunCall), timeout_s=END_TIMEOUT_S)
        h.put(ProcessStarted(999), seq=1)
        h.put(ProcessExited(999, 3), seq=2)
        ended = h.wait_end()
        assert ended.exit_code == 1 and "exited with code 3" in ended.message


class TestCommandsAndEvents:
    def test_first_call_sends_launch_then_run(self, harness):
        """The flow's first call of a work is sent as LaunchWork followed by RunCall."""
        h = harness(WaitsForWork())
        wait_until(lambda: h.sent(RunCall), timeout_s=END_TIMEOUT_S)
        assert [type(c) for c in h.sent()] == [LaunchWork, RunCall]

    def test_start_with_flow_works_start_before_the_first_tick(self, harness):
        """Works with start_with_flow=True are launched with the start action before the flow runs."""
        h = harness(WaitsForWork(start_with_flow=True))
        wait_until(lambda: h.sent(RunCall), timeout_s=END_TIMEOUT_S)
        launch, call = h.sent()
        assert isinstance(launch, LaunchWork) and launch.start_action is True
        assert isinstance(call, RunCall) and call.attempt == launch.attempt

    def test_event_wakes_the_flow_and_is_applied(self, harness):
        """A VarsChanged event makes the flow run at once with the new value."""
        h = harness(WaitsForWork())
        wait_until(lambda: h.sent(RunCall), timeout_s=END_TIMEOUT_S)
        started = time.monotonic()
        h.put(VarsChanged({"count": 3}), seq=1)
        assert h.wait_end() == AppEnded(0)
        assert time.monotonic() - started < 0.5
        assert h.app.root.job.count == 3

    def test_status_events_are_applied(self, harness):
        """Status events reach the flow's copy of the work."""
        h = harness(WaitsForWork())
        [call] = wait_until(lambda: h.sent(RunCall), timeout_s=END_TIMEOUT_S)
        h.put(StatusChanged(call.call_hash, make_status("running")), seq=1)
        h.put(StatusChanged(call.call_hash, make_status("succeeded")), seq=2)
        h.put(VarsChanged({"count": 3}), seq=3)
        h.wait_end()
        assert h.app.root.job.has_succeeded and h.app.root.job.num_successes == 1

    def test_events_of_one_agent_message_are_applied_in_order(self, harness):
        """A list in the inbox (the events of one agent message, delivered with one put) is applied event by event."""
        h = harness(WaitsForWork())
        [call] = wait_until(lambda: h.sent(RunCall), timeout_s=END_TIMEOUT_S)
        h.loop.inbox.put([WorkEvent("root.job", 1, seq, body) for seq, body in enumerate((
            StatusChanged(call.call_hash, make_status("running")),
            StatusChanged(call.call_hash, make_status("succeeded")),
            VarsChanged({"count": 3})), start=1)])
        assert h.wait_end() == AppEnded(0)
        assert h.app.root.job.has_succeeded and h.app.root.job.count == 3

    def test_teardown_stops_live_works_and_waits_for_their_exit(self, harness):
        """At the end the loop sends StopWork to live works and ends once they exit, recording stopped."""
        h = harness(WaitsForWork(), grace_s=30.0)
        wait_until(lambda: h.sent(RunCall), timeout_s=END_TIMEOUT_S)
        h.put(ProcessStarted(1234), seq=1)
        h.put(VarsChanged({"count": 3}), seq=2)
        [stop] = wait_until(lambda: h.sent(StopWork), timeout_s=END_TIMEOUT_S)
        assert stop.work_name == "root.job" and stop.attempt == 1
        assert h.ended.empty()
        h.put(ProcessExited(1234, 0), seq=3)
        assert h.wait_end(timeout_s=5.0) == AppEnded(0)
        assert h.app.root.job.has_stopped

    def test_a_stop_request_during_the_teardown_kills_the_works_still_running(self, harness):
        """The app ends with works given a long grace: a stop request now sends each of them a stop with no grace,
        and the app ends as soon as they exit."""
        h = harness(WaitsForWork(), grace_s=120.0)
        wait_until(lambda: h.sent(RunCall), timeout_s=END_TIMEOUT_S)
        h.put(ProcessStarted(1234), seq=1)
        h.loop.inbox.put(StopRequested(130, "interrupted (Ctrl-C)"))
        [graceful] = wait_until(lambda: h.sent(StopWork), timeout_s=END_TIMEOUT_S)
        assert graceful.grace_s == 120.0
        h.loop.inbox.put(StopRequested(130, "interrupted (Ctrl-C)"))
        stops = wait_until(lambda: h.sent(StopWork)[1:], timeout_s=END_TIMEOUT_S, what="a second StopWork")
        assert [(s.work_name, s.attempt, s.grace_s) for s in stops] == [("root.job", 1, 0.0)]
        h.put(ProcessExited(1234, 0, 9), seq=2)
        assert h.wait_end(timeout_s=5.0) == AppEnded(130, "interrupted (Ctrl-C)")

    def test_a_second_stop_in_the_same_batch_is_not_lost(self, harness):
        """Two stop requests read at once: the first ends the run, the second still reaches the teardown."""
        root = Gated()
        h = harness(root, grace_s=120.0)
        wait_until(lambda: h.sent(RunCall), timeout_s=END_TIMEOUT_S)
        h.put(ProcessStarted(1234), seq=1)
        h.put(VarsChanged({"count": 1}), seq=2)
        assert root._waiting.wait(END_TIMEOUT_S), "the flow never reached its gate"
        h.loop.inbox.put(StopRequested(143, "terminated (SIGTERM)"))
        h.loop.inbox.put(StopRequested(143, "terminated (SIGTERM)"))
        root._gate.set()  # both requests now wait in the inbox: the next drain takes them together
        wait_until(lambda: h.sent(StopWork)[1:], timeout_s=END_TIMEOUT_S, what="a second StopWork")
        assert [s.grace_s for s in h.sent(StopWork)] == [120.0, 0.0]
        h.put(ProcessExited(1234, 0, 9), seq=3)
        assert h.wait_end(timeout_s=5.0) == AppEnded(143, "terminated (SIGTERM)")


    def test_teardown_stops_a_work_launched_in_the_last_tick(self, harness):
        """A work whose launch was sent but whose process has not reported yet is still stopped at the end."""
        h = harness(LaunchesThenStops(), grace_s=0.5)
        [stop] = wait_until(lambda: h.sent(StopWork), timeout_s=3.0, what="a StopWork for root.job")
        assert stop.work_name == "root.job"
        h.put(ProcessStarted(55), seq=1)
        h.put(ProcessExited(55, 0), seq=2)
        assert h.wait_end() == AppEnded(0)


class TestStartWait:
    @pytest.fixture(autouse=True)
    def _long_start_wait(self, monkeypatch):
        """A start wait far beyond the tests' deadlines: only its early end can make them pass."""
        monkeypatch.setattr(loop_module, "START_WAIT_S", 60.0)

    def test_a_work_without_room_does_not_hold_the_first_run(self, harness):
        """The first run comes as soon as the placed work reported started, while the other waits for room."""
        h = harness(TwoStarting())
        wait_until(lambda: len(h.sent(LaunchWork)) == 2, timeout_s=END_TIMEOUT_S)
        h.loop.inbox.put(PlacementPending("root.waiting", 1, "no agent has 1 GPU free", for_capacity=True))
        h.put(ProcessStarted(11), seq=1, work_name="root.placed")
        h.put(StatusChanged("start", make_status("started")), seq=2, work_name="root.placed")
        wait_until(lambda: h.loop.ticks >= 1, timeout_s=END_TIMEOUT_S, what="the first run of the flows")
        assert h.app.root.seen[0] == ["started", "pending"]

    def test_works_are_waited_for_while_no_agent_is_connected(self, harness):
        """A work pending because no agent joined yet (the local agent is starting) is still waited for."""
        h = harness(TwoStarting())
        wait_until(lambda: len(h.sent(LaunchWork)) == 2, timeout_s=END_TIMEOUT_S)
        for name in ("root.placed", "root.waiting"):
            h.loop.inbox.put(PlacementPending(name, 1, "no agent is connected"))
        h.put(ProcessStarted(11), seq=1, work_name="root.placed")
        h.put(StatusChanged("start", make_status("started")), seq=2, work_name="root.placed")
        wait_until(lambda: h.app.root.placed.status.stage == "started", timeout_s=END_TIMEOUT_S)
        assert h.loop.ticks == 0
        h.put(ProcessStarted(12), seq=1, work_name="root.waiting")
        h.put(StatusChanged("start", make_status("started")), seq=2, work_name="root.waiting")
        wait_until(lambda: h.loop.ticks >= 1, timeout_s=END_TIMEOUT_S, what="the first run of the flows")
        assert h.app.root.seen[0] == ["started", "started"]


class TestPacing:
    def test_idle_flow_does_not_spin(self, harness):
        """A flow that changes nothing runs once and then waits: ~1 tick and little CPU in 0.5 s."""
        cpu_before = time.process_time()
        h = harness(Idle())
        time.sleep(MEASURE_WINDOW_S)
        ticks, cpu = h.loop.ticks, time.process_time() - cpu_before
        print(f"idle flow: {ticks} ticks, {cpu * 1000:.0f} ms CPU in {MEASURE_WINDOW_S}s")
        assert 1 <= ticks <= 2
        assert cpu < 0.25

    def test_self_changing_flow_ticks_at_a_steady_pace(self, harness):
        """A flow changing its own state every run keeps running at a bounded pace (5-60 ticks in 0.5 s)."""
        h = harness(Busy())
        time.sleep(MEASURE_WINDOW_S)
        ticks = h.loop.ticks
        print(f"busy flow: {ticks} ticks in {MEASURE_WINDOW_S}s")
        assert 5 <= ticks <= 60
        assert abs(h.app.root.runs - ticks) <= 1  # sampled from another thread, maybe mid-tick


class _FailingCheckpoint:
    """A checkpoint whose writes fail (a full disk), counting the attempts."""

    def __init__(self) -> None:
        self.saves = 0

    def save(self, changes) -> bool:  # noqa: ANN001
        self.saves += 1
        raise CheckpointError("cannot write the checkpoint /c.sqlite: database or disk is full", path="/c.sqlite")


class _FailingOnLaunch(_FailingCheckpoint):
    """A checkpoint whose first write recording a work's process (its launch) fails; the writes before it succeed."""

    def save(self, changes) -> bool:  # noqa: ANN001
        if not changes.works:
            return bool(changes)
        return super().save(changes)


class TestInternalFailures:
    def test_a_checkpoint_that_cannot_be_written_ends_the_app_and_acknowledges_nothing(self, harness):
        """The first failed write ends the app with status 1 naming the file; it is never retried and no event
        is acknowledged after it."""
        h = harness(WaitsForWork(), start=False)
        checkpoint = h.loop._checkpoint = _FailingCheckpoint()
        h.loop.start()
        ended = h.wait_end()
        assert ended.exit_code == 1 and "/c.sqlite" in ended.message and "disk is full" in ended.message
        assert checkpoint.saves == 1
        assert not h.sent(EventsApplied)

    def test_what_a_failed_checkpoint_did_not_record_is_never_sent(self, harness):
        """Write-ahead holds when the write fails: the launch and the call it could not record never leave."""
        h = harness(WaitsForWork(), start=False)
        checkpoint = h.loop._checkpoint = _FailingOnLaunch()
        h.loop.start()
        assert h.wait_end().exit_code == 1
        assert checkpoint.saves == 1, "the launch was never to be recorded: the test proves nothing"
        assert not h.sent(LaunchWork) and not h.sent(RunCall)

    def test_the_teardown_does_not_wait_for_unreachable_works(self, harness):
        """A live work whose stop cannot reach it is dropped from the wait at once, not after the grace period."""
        h = harness(WaitsForWork(), grace_s=60.0)
        wait_until(lambda: h.sent(RunCall), timeout_s=END_TIMEOUT_S)
        h.put(ProcessStarted(pid=42), seq=1)
        wait_until(lambda: h.runtime.works["root.job"].pid == 42, timeout_s=END_TIMEOUT_S)
        h.loop.inbox.put(StopRequested(143, "terminated"))
        wait_until(lambda: h.sent(StopWork), timeout_s=END_TIMEOUT_S)
        h.loop.inbox.put(WorkUnreachable("root.job", 1, "agent a is not connected"))
        assert h.wait_end(timeout_s=5.0) == AppEnded(143, "terminated")

    def test_on_end_is_called_even_when_the_teardown_fails(self, harness):
        """A bug while stopping the works still ends the app (status 1), never leaving the run hanging."""
        h = harness(Stops(), start=False)

        def broken() -> list[str]:
            raise RuntimeError("bug")

        h.runtime.running_work_names = broken
        h.loop.start()
        ended = h.wait_end()
        assert ended.exit_code == 1 and "RuntimeError('bug')" in ended.message
