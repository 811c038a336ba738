"""Tests for sdk._work: construction, state shapes, set_state cleaning, status properties, start and stop."""

from __future__ import annotations

import time
import warnings

import pytest

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._calls import apply_status, record_pending
from lightning_ctl.sdk._hashing import START_CALL_HASH
from lightning_ctl.sdk._runtime import Runtime, set_runtime
from lightning_ctl.sdk._status import make_status
from lightning_ctl.sdk.errors import LightningWorkException
from lightning_ctl.sdk.testing import EmptyFlow, EmptyWork

INTERNAL_VARS = {
    "_host",
    "_port",
    "_url",
    "_future_url",
    "_internal_ip",
    "_public_ip",
    "_restarting",
    "_display_name",
    "_paths",
    "_cloud_compute",
}


class CountingWork(LightningWork):
    def __init__(self, **kwargs) -> None:
        super().__init__(start_with_flow=False, **kwargs)
        self.count = 0
        self.history: list[int] = []

    def run(self, x: int = 0) -> None:
        self.count += 1

    def take_child(self, child) -> None:
        self.child = child


class NoRun(LightningWork):
    pass


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.w = CountingWork()

    def run(self) -> None:
        pass


class RecordingRuntime(Runtime):
    """A runtime that records what the SDK asks of it."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: list[str] = []
        self.dispatched: list[tuple] = []

    def dispatch_call(self, work, call_hash, args, kwargs) -> None:
        self.dispatched.append((work.name, call_hash, args, kwargs))

    def start_work(self, work) -> None:
        self.started.append(work.name)

    def stop_work(self, work) -> None:
        self.stopped.append(work.name)


@pytest.fixture
def runtime():
    """A recording runtime installed for the test, removed afterwards."""
    rt = RecordingRuntime()
    set_runtime(rt)
    yield rt
    set_runtime(None)


def _status(stage: str, timestamp: float, **extra) -> dict:
    return {"stage": stage, "timestamp": timestamp, **extra}


class TestConstruction:
    def test_work_must_override_run(self):
        """A work class without its own run raises TypeError at construction."""
        with pytest.raises(TypeError, match="NoRun"):
            NoRun()

    def test_defaults_match_the_reference(self):
        """parallel False, cache_calls True, raise_exception True, host 127.0.0.1, start_with_flow True."""
        work = EmptyWork()
        assert (work.parallel, work.cache_calls, work.raise_exception) == (False, True, True)
        assert work.host == "127.0.0.1" and work.start_with_flow is True
        assert work.url == "" and work.internal_ip == "" and work.public_ip == ""
        assert work.display_name == ""

    def test_explicit_port_is_kept(self):
        """A port given at construction is what work.port returns and what the state holds."""
        work = EmptyWork(port=8123)
        assert work.port == 8123
        assert work.state["vars"]["_port"] == 8123

    def test_run_once_is_a_deprecated_alias_of_cache_calls(self):
        """run_once warns and overrides cache_calls."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            work = EmptyWork(cache_calls=True, run_once=False)
        assert work.cache_calls is False
        assert any(issubclass(w.category, DeprecationWarning) for w in caught)

    @pytest.mark.parametrize("child", [EmptyWork, EmptyFlow], ids=["work", "flow"])
    def test_work_cannot_hold_children(self, child):
        """Assigning a flow or work to a work's attribute raises LightningWorkException."""
        with pytest.raises(LightningWorkException, match="isn't allowed to take any children"):
            CountingWork().take_child(child())

    def test_run_may_be_reassigned(self):
        """A work may always (re)assign run, even outside __init__."""
        work = CountingWork()
        work.run = lambda: "patched"
        assert work.run() == "patched"

    def test_url_setter_writes_internal_url(self):
        """Setting url stores it in the _url state var."""
        work = EmptyWork()
        work.url = "http://127.0.0.1:9000"
        assert work.state["vars"]["_url"] == "http://127.0.0.1:9000"

    def test_display_name_settable_before_start(self):
        """display_name can be set before the work starts and is state (_display_name)."""
        work = EmptyWork()
        work.display_name = "trainer"
        assert work.display_name == "trainer"
        assert work.state["vars"]["_display_name"] == "trainer"

    def test_display_name_refused_after_start(self):
        """Setting display_name once the work has started raises RuntimeError."""
        work = EmptyWork()
        record_pending(work, "abc")
        with pytest.raises(RuntimeError):
            work.display_name = "late"


class TestState:
    def test_state_shape_has_vars_calls_changes(self):
        """work.state is {"vars", "calls", "changes"} with calls holding latest_call_hash None."""
        state = CountingWork().state
        assert set(state) == {"vars", "calls", "changes"}
        assert state["calls"] == {"latest_call_hash": None}
        assert state["changes"] == {}

    def test_vars_include_internal_work_vars(self):
        """vars has every internal work var with the reference's defaults plus the user's attributes."""
        vars_ = CountingWork().state["vars"]
        assert set(vars_) == INTERNAL_VARS | {"count", "history"}
        assert {k: vars_[k] for k in INTERNAL_VARS - {"_cloud_compute"}} == {
            "_host": "127.0.0.1",
            "_port": None,
            "_url": "",
            "_future_url": "",
            "_internal_ip": "",
            "_public_ip": "",
            "_restarting": False,
            "_display_name": "",
            "_paths": {},
        }

    def test_cloud_compute_is_serialized_as_a_tagged_dict(self):
        """_cloud_compute is the reference's tagged dict (type, name cpu-small, id default...)."""
        compute = CountingWork().state["vars"]["_cloud_compute"]
        expected = {
            "type": "__cloud_compute__",
            "name": "cpu-small",
            "disk_size": 0,
            "idle_timeout": None,
            "shm_size": 0,
            "mounts": None,
            "colocation_group_id": None,
            "interruptible": False,
            "_internal_id": "default",
        }
        assert {k: compute[k] for k in expected} == expected

    def test_state_vars_has_only_vars(self):
        """state_vars is {"vars": ...}: no calls, no changes."""
        work = CountingWork()
        assert work.state_vars == {"vars": work.state["vars"]}

    def test_private_attributes_stay_out_of_state(self):
        """A private attribute never appears in the state."""
        work = CountingWork()
        work._secret = object()
        assert "_secret" not in work.state["vars"]

    def test_set_state_assigns_vars_and_rebuilds_cloud_compute(self):
        """set_state assigns vars; a __cloud_compute__ dict becomes a CloudCompute again."""
        work = CountingWork()
        state = CountingWork(cloud_compute=CloudCompute("gpu")).state
        state["vars"]["count"] = 5
        work.set_state(state)
        assert work.count == 5
        assert isinstance(work.cloud_compute, CloudCompute)
        assert work.cloud_compute.name == "gpu"

    def test_set_state_replaces_calls(self):
        """A work's calls are replaced, not merged."""
        work = CountingWork()
        record_pending(work, "old")
        work.set_state({"vars": {}, "calls": {"latest_call_hash": "new", "new": {"statuses": []}}})
        assert "old" not in work._calls
        assert work._calls["latest_call_hash"] == "new"

    def test_set_state_collapses_a_succeeded_call(self):
        """A call whose last status is succeeded keeps only that status, with an integer timestamp."""
        work = CountingWork()
        statuses = [_status("pending", 100.5), _status("running", 101.25), _status("succeeded", 102.75)]
        calls = {"latest_call_hash": "h", "h": {"statuses": statuses, "ret": None}}
        work.set_state({"vars": {}, "calls": calls})
        assert work._calls["h"]["statuses"] == [{"stage": "succeeded", "timestamp": 102}]
        assert work.has_succeeded

    def test_set_state_sorts_statuses_and_drops_exact_duplicates(self):
        """An unfinished call's statuses are sorted by timestamp and exact duplicates removed (spec 2.3)."""
        work = CountingWork()
        running = _status("running", 101.0)
        statuses = [running, _status("pending", 100.0), dict(running)]
        work.set_state({"vars": {}, "calls": {"latest_call_hash": "h", "h": {"statuses": statuses}}})
        assert work._calls["h"]["statuses"] == [_status("pending", 100.0), running]

    def test_set_state_does_not_alias_the_given_calls(self):
        """Changing the dict given to set_state afterwards does not change the work."""
        work = CountingWork()
        calls = {"latest_call_hash": "h", "h": {"statuses": [_status("pending", 1.0)]}}
        work.set_state({"vars": {}, "calls": calls})
        calls["h"]["statuses"].append(_status("running", 2.0))
        assert len(work._calls["h"]["statuses"]) == 1


class TestNaming:
    def test_unattached_work_has_empty_name(self):
        """A work never attached to an app is named ""."""
        assert CountingWork().name == ""

    def test_attached_work_has_dotted_name(self):
        """A work attached under attribute w of the root is root.w."""
        assert LightningApp(Root()).root.w.name == "root.w"


class TestStatus:
    def test_not_started_before_any_call_with_fresh_timestamp(self):
        """Before any call, status is not_started stamped with the current time on every read."""
        work = CountingWork()
        before = time.time()
        status = work.status
        assert status.stage == "not_started"
        assert before <= status.timestamp <= time.time()
        assert not work.has_started and work.statuses == []

    def test_pending_after_first_call(self):
        """After the first call is recorded the work is pending and has started."""
        work = CountingWork()
        record_pending(work, "h1")
        assert work.is_pending and work.has_started
        assert work.status.stage == "pending"

    @pytest.mark.parametrize(
        ("stage", "prop"),
        [
            ("running", "is_running"),
            ("succeeded", "has_succeeded"),
            ("failed", "has_failed"),
            ("stopped", "has_stopped"),
        ],
    )
    def test_boolean_properties_read_the_latest_stage(self, stage, prop):
        """Each has_*/is_* property is True exactly for its stage."""
        work = CountingWork()
        record_pending(work, "h1")
        apply_status(work, "h1", make_status(stage))
        props = ["is_pending", "is_running", "has_succeeded", "has_failed", "has_stopped"]
        assert {p: getattr(work, p) for p in props} == {p: p == prop for p in props}

    def test_status_follows_the_latest_call_hash(self):
        """After a new call starts running, status reports that call, not the previous one."""
        work = CountingWork()
        record_pending(work, "h1")
        apply_status(work, "h1", make_status("running"))
        apply_status(work, "h1", make_status("succeeded"))
        record_pending(work, "h2")
        assert work.has_succeeded  # the new call is pending, but latest_call_hash still names h1
        apply_status(work, "h2", make_status("running"))
        assert work.is_running
        assert [s.stage for s in work.statuses] == ["pending", "running"]

    def test_failed_status_carries_reason_and_message(self):
        """A failed status exposes its reason and message."""
        work = CountingWork()
        record_pending(work, "h1")
        apply_status(work, "h1", make_status("failed", message="Traceback ...", reason="user_exception"))
        assert work.status.reason == "user_exception"
        assert work.status.message == "Traceback ..."
        assert not work.has_timeout and work.num_timeouts == 0

    def test_timeout_properties(self):
        """A failed status with reason timeout sets has_timeout and num_timeouts (its count)."""
        work = CountingWork()
        record_pending(work, "h1")
        apply_status(work, "h1", {**make_status("failed", reason="timeout"), "count": 2})
        assert work.has_timeout and work.num_timeouts == 2

    def test_num_successes_sums_over_hashes_and_reruns(self):
        """num_successes counts every succeeded run, across call hashes and re-runs of one hash."""
        work = CountingWork(cache_calls=False)
        assert work.num_successes == 0
        for hash_ in ("a", "a", "b"):
            record_pending(work, hash_)
            apply_status(work, hash_, make_status("running"))
            apply_status(work, hash_, make_status("succeeded"))
        assert work.num_successes == 3


class TestStartAndStop:
    def test_start_records_the_start_action_and_asks_the_runtime(self, runtime):
        """start() records a pending start call and asks the runtime to start the work, once."""
        app = LightningApp(Root())
        app.root.w.start()
        app.root.w.start()
        assert runtime.started == ["root.w"]
        assert app.root.w._calls["latest_call_hash"] == START_CALL_HASH
        assert app.root.w.is_pending

    def test_stop_asks_the_runtime_and_records_stopped_pending(self, runtime):
        """stop() asks the runtime to stop the work and appends stopped with reason pending."""
        app = LightningApp(Root())
        work = app.root.w
        record_pending(work, "h1")
        apply_status(work, "h1", make_status("running"))
        work.stop()
        assert runtime.stopped == ["root.w"]
        assert work.has_stopped
        assert work.status.reason == "pending"

    def test_stop_twice_stops_once(self, runtime):
        """stop() on a stopped work does nothing."""
        app = LightningApp(Root())
        app.root.w.stop()
        app.root.w.stop()
        assert runtime.stopped == ["root.w"]
        assert len(app.root.w.statuses) == 1

    def test_start_after_stop_raises(self, runtime):
        """A stopped work cannot be started again."""
        app = LightningApp(Root())
        app.root.w.stop()
        with pytest.raises(Exception, match="started only once"):
            app.root.w.start()

    def test_stop_without_runtime_raises(self):
        """stop() outside a running app raises RuntimeError."""
        with pytest.raises(RuntimeError):
            CountingWork().stop()

    def test_delete_behaves_like_stop(self, runtime):
        """delete() stops the work."""
        app = LightningApp(Root())
        app.root.w.delete()
        assert runtime.stopped == ["root.w"] and app.root.w.has_stopped
