"""Tests for sdk._calls: when work.run(...) dispatches or interrupts the flow, and status bookkeeping."""

from __future__ import annotations

import pytest

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._calls import (
    LATEST,
    apply_status,
    dispatch_call,
    latest_entry,
    record_pending,
    run_inline,
)
from lightning_ctl.sdk._hashing import call_hash
from lightning_ctl.sdk._runtime import Runtime, get_runtime, set_runtime
from lightning_ctl.sdk._status import make_status
from lightning_ctl.sdk.errors import CacheMissException


class FakeRuntime(Runtime):
    """Records dispatched calls instead of sending them anywhere."""

    def __init__(self) -> None:
        self.dispatched: list[tuple[str, str, tuple, dict]] = []
        self.stopped: list[str] = []

    def dispatch_call(self, work, call_hash, args, kwargs) -> None:
        self.dispatched.append((work.name, call_hash, args, kwargs))

    def stop_work(self, work) -> None:
        self.stopped.append(work.name)


class Job(LightningWork):
    def __init__(self, **kwargs) -> None:
        super().__init__(start_with_flow=False, **kwargs)
        self.done = 0

    def run(self, x: int = 0) -> None:
        self.done += 1


class Exploding(LightningWork):
    def __init__(self) -> None:
        super().__init__(start_with_flow=False)

    def run(self) -> None:
        raise ValueError("kaboom")


class Returning(LightningWork):
    def __init__(self, **kwargs) -> None:
        super().__init__(start_with_flow=False, **kwargs)
        self.runs = 0

    def run(self, x: int) -> int:
        self.runs += 1
        return x * 10


class Extended(Returning):
    def run(self, x: int) -> int:
        return super().run(x) + 1


class Root(LightningFlow):
    def __init__(self, **work_kwargs) -> None:
        super().__init__()
        self.job = Job(**work_kwargs)

    def run(self) -> None:
        self.job.run(1)


@pytest.fixture
def runtime():
    """A FakeRuntime installed as this process's runtime, reset to None afterwards."""
    rt = FakeRuntime()
    set_runtime(rt)
    yield rt
    set_runtime(None)


def make_job(**kwargs) -> Job:
    """An attached work (root.job), built with ``kwargs``."""
    return LightningApp(Root(**kwargs)).root.job


def finish(work: LightningWork, hash_: str, stage: str = "succeeded") -> None:
    """Report running then ``stage`` for the call ``hash_``, as the work process would."""
    apply_status(work, hash_, make_status("running"))
    apply_status(work, hash_, make_status(stage))


H1 = call_hash((1,), {})


class TestFirstCall:
    def test_first_call_records_pending_and_dispatches_once(self, runtime):
        """The first call records a pending status, sets latest_call_hash and dispatches exactly once."""
        job = make_job(parallel=True)
        job.run(1)
        assert runtime.dispatched == [("root.job", H1, (1,), {})]
        assert job._calls[LATEST] == H1
        assert [s["stage"] for s in job._calls[H1]["statuses"]] == ["pending"]
        assert "ret" not in job._calls[H1]

    def test_non_parallel_first_call_raises_cache_miss(self, runtime):
        """A non-parallel call interrupts the flow body with CacheMissException after dispatching."""
        job = make_job()
        with pytest.raises(CacheMissException):
            job.run(1)
        assert len(runtime.dispatched) == 1

    def test_flow_body_stops_at_the_call(self, runtime):
        """Calling through the flow's run() raises CacheMissException out of it."""
        app = LightningApp(Root())
        with pytest.raises(CacheMissException):
            app.root.run()

    def test_call_returns_none(self, runtime):
        """A dispatched parallel call evaluates to None in the flow."""
        assert make_job(parallel=True).run(1) is None

    def test_new_hash_while_busy_is_dispatched(self, runtime):
        """A call with new arguments is sent at once, even while another is running."""
        job = make_job(parallel=True)
        job.run(1)
        apply_status(job, H1, make_status("running"))
        job.run(2)
        assert [d[1] for d in runtime.dispatched] == [H1, call_hash((2,), {})]
        assert job._calls[LATEST] == H1  # changes only when the new call reports running


class TestRepeatedCalls:
    @pytest.mark.parametrize("stage", ["pending", "running", "failed"])
    def test_non_parallel_call_keeps_interrupting_until_success(self, runtime, stage):
        """While pending, running or failed, a non-parallel call raises again without re-dispatch."""
        job = make_job()
        with pytest.raises(CacheMissException):
            job.run(1)
        if stage != "pending":
            apply_status(job, H1, make_status("running"))
        if stage == "failed":
            apply_status(job, H1, make_status("failed", reason="user_exception"))
        with pytest.raises(CacheMissException):
            job.run(1)
        assert len(runtime.dispatched) == 1

    def test_cache_hit_returns_none_without_dispatch_or_raise(self, runtime):
        """With cache_calls=True a succeeded hash returns None, dispatches nothing and does not raise."""
        job = make_job()
        with pytest.raises(CacheMissException):
            job.run(1)
        finish(job, H1)
        assert job.run(1) is None
        assert job.run(1) is None
        assert len(runtime.dispatched) == 1

    def test_cache_is_permanent_after_other_calls(self, runtime):
        """A finished hash stays cached after other calls ran (no stale-observer eviction)."""
        job = make_job(parallel=True)
        job.run(1)
        finish(job, H1)
        h2 = call_hash((2,), {})
        job.run(2)
        finish(job, h2)
        job.run(1)
        assert [d[1] for d in runtime.dispatched] == [H1, h2]

    def test_no_cache_redispatches_after_success(self, runtime):
        """With cache_calls=False a call after success re-dispatches, drops ret and appends pending."""
        job = make_job(cache_calls=False)
        with pytest.raises(CacheMissException):
            job.run(1)
        finish(job, H1)
        assert "ret" in job._calls[H1]
        with pytest.raises(CacheMissException):
            job.run(1)
        assert len(runtime.dispatched) == 2
        assert "ret" not in job._calls[H1]
        assert [s["stage"] for s in job._calls[H1]["statuses"]] == ["succeeded", "pending"]

    def test_no_cache_status_list_stays_bounded(self, runtime):
        """Many re-runs of one hash keep only the previous outcome plus the new pending status."""
        job = make_job(cache_calls=False, parallel=True)
        for _ in range(20):
            job.run(1)
            finish(job, H1)
        job.run(1)
        assert len(runtime.dispatched) == 21
        assert [s["stage"] for s in job._calls[H1]["statuses"]] == ["succeeded", "pending"]
        assert job.num_successes == 20

    def test_no_cache_does_not_redispatch_while_running(self, runtime):
        """With cache_calls=False a call whose run has not finished is not sent again."""
        job = make_job(cache_calls=False, parallel=True)
        job.run(1)
        apply_status(job, H1, make_status("running"))
        job.run(1)
        assert len(runtime.dispatched) == 1

    @pytest.mark.parametrize("cache_calls", [True, False])
    def test_failed_calls_are_never_redispatched(self, runtime, cache_calls):
        """A failed hash is not sent again, whatever cache_calls says."""
        job = make_job(cache_calls=cache_calls, parallel=True)
        job.run(1)
        finish(job, H1, stage="failed")
        for _ in range(3):
            job.run(1)
        assert len(runtime.dispatched) == 1

    def test_parallel_calls_never_raise(self, runtime):
        """A parallel work's call returns at once in every state of the call."""
        job = make_job(parallel=True)
        job.run(1)
        job.run(1)
        apply_status(job, H1, make_status("running"))
        job.run(1)
        apply_status(job, H1, make_status("failed"))
        job.run(1)
        assert len(runtime.dispatched) == 1


class TestStoppedAndUnattached:
    @pytest.mark.parametrize("parallel", [True, False])
    def test_calls_on_a_stopped_work_do_nothing(self, runtime, parallel):
        """After stop(), calls dispatch nothing and do not raise."""
        job = make_job(parallel=parallel)
        job.stop()
        assert job.run(1) is None
        assert job.run(2) is None
        assert runtime.dispatched == []

    def test_a_work_stopped_for_idleness_takes_calls(self, runtime):
        """A work whose process stopped after its idle timeout is called as usual (the runtime restarts it)."""
        job = make_job(parallel=True)
        job.run(1)
        finish(job, H1)
        apply_status(job, H1, make_status("stopped", reason="idle_timeout"))
        assert job.has_stopped
        job.run(2)
        assert [d[1] for d in runtime.dispatched] == [H1, call_hash((2,), {})]

    def test_unattached_work_cannot_be_called(self, runtime):
        """Calling a work that is not attached to an app raises AttributeError "Failed to create process"."""
        with pytest.raises(AttributeError, match="Failed to create process"):
            Job().run(1)
        assert runtime.dispatched == []

    def test_dispatch_call_function_directly(self, runtime):
        """dispatch_call() itself applies the same rules as work.run."""
        job = make_job(parallel=True)
        assert dispatch_call(job, runtime, (1,), {}) is None
        assert runtime.dispatched[0][1] == H1


class TestApplyStatus:
    @pytest.mark.parametrize("stage", ["running", "started"])
    def test_running_and_started_set_latest_call_hash(self, stage):
        """A running or started status makes its hash the latest call."""
        job = Job()
        record_pending(job, "first")
        record_pending(job, "second")
        assert job._calls[LATEST] == "first"
        apply_status(job, "second", make_status(stage))
        assert job._calls[LATEST] == "second"
        assert latest_entry(job) is job._calls["second"]

    def test_other_stages_do_not_move_latest(self):
        """A succeeded status for another hash does not change latest_call_hash."""
        job = Job()
        record_pending(job, "first")
        apply_status(job, "other", make_status("succeeded"))
        assert job._calls[LATEST] == "first"

    def test_first_status_sets_latest_when_none(self):
        """Any status sets latest_call_hash while it is still None."""
        job = Job()
        apply_status(job, "h", make_status("pending"))
        assert job._calls[LATEST] == "h"

    def test_success_sets_ret_and_counts(self):
        """A succeeded status records ret None and counts one success."""
        job = Job()
        apply_status(job, "h", make_status("running"))
        apply_status(job, "h", make_status("succeeded"))
        assert job._calls["h"]["ret"] is None
        assert job.num_successes == 1

    def test_statuses_are_appended_in_arrival_order(self):
        """Statuses are kept in the order they were reported."""
        job = Job()
        record_pending(job, "h")
        apply_status(job, "h", make_status("running"))
        apply_status(job, "h", make_status("failed"))
        assert [s["stage"] for s in job._calls["h"]["statuses"]] == ["pending", "running", "failed"]


class TestRunInline:
    def test_no_runtime_runs_inline(self):
        """Without a runtime, run executes in this process and records its statuses."""
        assert get_runtime() is None
        job = Job()
        job.run(1)
        assert job.done == 1
        assert job.has_succeeded and job.num_successes == 1

    def test_inline_cache_returns_stored_value(self):
        """With cache_calls=True a second inline call with the same arguments returns the stored value."""
        work = Returning()
        assert work.run(2) == 20
        assert work.run(2) == 20
        assert work.runs == 1
        assert work.run(3) == 30
        assert work.runs == 2

    def test_inline_without_cache_reruns(self):
        """With cache_calls=False every inline call runs again."""
        work = Returning(cache_calls=False)
        work.run(2)
        work.run(2)
        assert work.runs == 2
        assert work.num_successes == 2

    def test_inline_exception_propagates_with_failed_status(self):
        """An exception in an inline run propagates and leaves a failed user_exception status."""
        work = Exploding()
        with pytest.raises(ValueError, match="kaboom"):
            work.run()
        assert work.has_failed
        assert work.status.reason == "user_exception"
        assert "kaboom" in work.status.message

    def test_subclass_calling_super_run_is_one_call(self):
        """A subclass's run calling super().run() executes both bodies as one call."""
        work = Extended()
        assert work.run(2) == 21
        assert work.runs == 1
        assert work.num_successes == 1
        assert [key for key in work._calls if key != LATEST] == [call_hash((2,), {})]

    def test_run_inline_function_directly(self):
        """run_inline() runs the given function with the work and arguments."""
        work = Returning()
        assert run_inline(work, lambda self, x: x + 1, (4,), {}) == 5
        assert work._calls[call_hash((4,), {})]["ret"] == 5
