"""Tests for sdk._app: building an app, work-as-root wrapping, state views and component lookup by name."""

from __future__ import annotations

import pytest

from lightning_ctl.sdk import AppStage, Dict, LightningApp, LightningFlow, LightningWork, List
from lightning_ctl.sdk._calls import apply_status
from lightning_ctl.sdk._runtime import Runtime, set_runtime
from lightning_ctl.sdk._status import make_status
from lightning_ctl.sdk.errors import CacheMissException, ExitAppException


class Job(LightningWork):
    def __init__(self) -> None:
        super().__init__(start_with_flow=False)
        self.value = 0

    def run(self) -> None:
        self.value += 1


class Child(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.job = Job()

    def run(self) -> None:
        pass


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.counter = 0
        self.child = Child()
        self.job = Job()
        self.d = Dict(key=Child())
        self.l = List(Job(), Child())

    def run(self) -> None:
        pass


class NoRunFlow(LightningFlow):
    pass


class FakeRuntime(Runtime):
    def __init__(self) -> None:
        self.dispatched: list[str] = []
        self.stopped: list[str] = []

    def dispatch_call(self, work, call_hash, args, kwargs) -> None:
        self.dispatched.append(call_hash)

    def stop_work(self, work) -> None:
        self.stopped.append(work.name)


@pytest.fixture
def runtime():
    """A FakeRuntime installed for the test, reset to None afterwards."""
    rt = FakeRuntime()
    set_runtime(rt)
    yield rt
    set_runtime(None)


@pytest.fixture
def app() -> LightningApp:
    """An app with flows, works and structures."""
    return LightningApp(Root())


class TestConstruction:
    def test_root_is_named_root(self, app):
        """The root flow is named root and its children get full names."""
        assert app.root.name == "root"
        assert app.root.child.job.name == "root.child.job"

    def test_work_as_root_is_wrapped_and_named_root_work(self):
        """A work passed as root is wrapped in a flow and named root.work."""
        job = Job()
        app = LightningApp(job)
        assert isinstance(app.root, LightningFlow)
        assert app.root.work is job
        assert job.name == "root.work"
        assert app.works == [job]

    def test_root_flow_must_override_run(self):
        """A root flow without its own run() raises TypeError at construction."""
        with pytest.raises(TypeError, match="NoRunFlow"):
            LightningApp(NoRunFlow())

    def test_root_must_be_a_component(self):
        """A root that is neither a flow nor a work raises TypeError."""
        with pytest.raises(TypeError):
            LightningApp(object())

    def test_bad_log_level_raises(self):
        """A log_level other than info or debug raises a plain Exception naming it."""
        with pytest.raises(Exception, match="verbose"):
            LightningApp(Root(), log_level="verbose")

    @pytest.mark.parametrize("level", ["info", "debug"])
    def test_valid_log_levels(self, level):
        """info and debug are accepted."""
        assert LightningApp(Root(), log_level=level).log_level == level

    def test_starts_running(self, app):
        """A new app is in stage running."""
        assert app.stage == AppStage.RUNNING


class TestWorkAsRoot:
    def test_root_flow_calls_the_work(self, runtime):
        """The wrapping flow calls work.run() with no arguments (interrupting while it runs)."""
        app = LightningApp(Job())
        with pytest.raises(CacheMissException):
            app.root.run()
        assert len(runtime.dispatched) == 1

    def test_root_flow_stops_the_app_after_success(self, runtime):
        """Once the work has succeeded, the wrapping flow ends the app without calling it again."""
        app = LightningApp(Job())
        with pytest.raises(CacheMissException):
            app.root.run()
        hash_ = runtime.dispatched[0]
        apply_status(app.root.work, hash_, make_status("running"))
        apply_status(app.root.work, hash_, make_status("succeeded"))
        with pytest.raises(ExitAppException):
            app.root.run()
        assert len(runtime.dispatched) == 1
        assert runtime.stopped == []  # the app's teardown stops it, once


class TestStateViews:
    def test_state_has_app_stage(self, app):
        """app.state is the root's state plus app_state.stage."""
        state = app.state
        assert state["app_state"] == {"stage": "running"}
        assert {k: v for k, v in state.items() if k != "app_state"} == app.root.state

    def test_state_vars_has_app_stage(self, app):
        """app.state_vars is the root's state_vars plus app_state."""
        assert app.state_vars == {**app.root.state_vars, "app_state": {"stage": "running"}}

    def test_set_state_sets_tree_stage_and_last_state(self, app):
        """set_state sets last_state, the root's state and the stage."""
        state = app.state
        state["vars"]["counter"] = 3
        state["app_state"]["stage"] = "blocking"
        app.set_state(state)
        assert app.root.counter == 3
        assert app.stage == AppStage.BLOCKING
        assert app.last_state == state

    def test_status_lists_every_work_by_full_name(self, app):
        """app.status maps each work's full name to its status."""
        status = app.status
        assert set(status.work_statuses) == {w.name for w in app.works}
        assert all(s.stage == "not_started" for s in status.work_statuses.values())

    def test_flows_lists_root_then_descendants(self, app):
        """app.flows is the root followed by every descendant flow."""
        assert [f.name for f in app.flows] == ["root", "root.child", "root.d.key", "root.l.1"]

    def test_named_works_follows_traversal_order(self, app):
        """app.named_works lists own works, child flows', then structures' works."""
        assert [name for name, _ in app.named_works] == [
            "root.job",
            "root.child.job",
            "root.d.key.job",
            "root.l.0",
            "root.l.1.job",
        ]


class TestGetComponentByName:
    def test_root(self, app):
        """"root" gives the root flow."""
        assert app.get_component_by_name("root") is app.root

    def test_walks_attributes(self, app):
        """Dotted names walk flow attributes."""
        assert app.get_component_by_name("root.child.job") is app.root.child.job

    def test_walks_dict_keys_and_list_indices(self, app):
        """Names walk Dict keys and List indices."""
        assert app.get_component_by_name("root.d.key.job") is app.root.d["key"].job
        assert app.get_component_by_name("root.l.0") is app.root.l[0]
        assert app.get_component_by_name("root.l.1.job") is app.root.l[1].job

    def test_every_name_resolves_to_its_component(self, app):
        """Each flow's and work's own name looks it up again, also after a List item was removed."""
        app.root.l.pop(0)
        for component in [*app.flows, *app.works]:
            assert app.get_component_by_name(component.name) is component

    @pytest.mark.parametrize("name", ["child.job", "app.child", ""])
    def test_name_without_root_raises_value_error(self, app, name):
        """A name that does not start with root raises ValueError."""
        with pytest.raises(ValueError):
            app.get_component_by_name(name)

    @pytest.mark.parametrize(
        "name", ["root.missing", "root.counter", "root.child.job.value", "root.d.nokey", "root.l.7"]
    )
    def test_bad_step_raises_attribute_error(self, app, name):
        """A step that is not a component raises AttributeError."""
        with pytest.raises(AttributeError):
            app.get_component_by_name(name)


def test_the_app_stays_ready_once_its_root_flow_was() -> None:
    """is_ui_ready follows root.ready until it is True, then latches (as the former framework's did)."""
    from lightning_ctl.sdk import LightningApp, LightningFlow

    class Root(LightningFlow):
        def __init__(self) -> None:
            super().__init__()
            self.serving = False

        def run(self) -> None:
            pass

        @property
        def ready(self) -> bool:
            return self.serving

    app = LightningApp(Root())
    assert app.status.is_ui_ready is False
    app.root.serving = True
    assert app.status.is_ui_ready is True
    app.root.serving = False
    assert app.ready is True and app.status.is_ui_ready is True
