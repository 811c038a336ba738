"""Tests for controlplane.http.state_access: REST writes change only public attributes, all or nothing."""

from __future__ import annotations

import pytest

from lightning_ctl.controlplane.http.state_access import changes_writer, read_state_vars_json
from lightning_ctl.sdk import Dict, LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._state_delta import REMOVED
from lightning_ctl.sdk.errors import DeltaError


class Job(LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.knob = 0

    def run(self) -> None:
        pass


class Child(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.config = {"lr": 0.1, "layers": [1, 2]}

    def run(self) -> None:
        pass


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.counter = 0
        self._secret = "x"
        self.child = Child()
        self.job = Job()
        self.jobs = Dict(a=Job())

    def run(self) -> None:
        pass


@pytest.fixture
def app() -> LightningApp:
    return LightningApp(Root())


def test_vars_of_flows_works_and_structures_are_set(app):
    """A change names its component by the state tree's path, like a DeepDiff path of GET /api/v1/state."""
    write = changes_writer([
        (("vars", "counter"), 5),
        (("flows", "child", "vars", "config", "lr"), 0.5),
        (("works", "job", "vars", "knob"), 3),
        (("structures", "jobs", "works", "a", "vars", "knob"), 7),
    ])
    assert write(app, None) == 4
    root = app.root
    assert (root.counter, root.child.config["lr"], root.job.knob, root.jobs["a"].knob) == (5, 0.5, 3, 7)
    assert root.child.config["layers"] == [1, 2]
    assert '"counter": 5' in read_state_vars_json(app, None)


@pytest.mark.parametrize("path, value, message", [
    (("vars", "_secret"), "y", "private"),
    (("vars", "nope"), 1, "no attribute 'nope'"),
    (("flows", "ghost", "vars", "x"), 1, "no flow 'ghost'"),
    (("calls", "x"), 1, "only attributes"),
    (("vars", "counter"), REMOVED, "cannot be removed"),
])
def test_bad_writes_are_refused_naming_the_path(app, path, value, message):
    """Private attributes, unknown names, non-vars and removals are refused with a message naming them."""
    with pytest.raises(DeltaError, match=message):
        changes_writer([(path, value)])(app, None)


def test_a_refused_write_changes_nothing(app):
    """All or nothing: a good change before a bad one is not applied."""
    with pytest.raises(DeltaError):
        changes_writer([(("vars", "counter"), 9), (("vars", "nope"), 1)])(app, None)
    assert app.root.counter == 0


def test_a_value_the_component_refuses_is_a_delta_error(app):
    """A value that is not JSON-serialisable inside the flow is refused with the component named."""
    with pytest.raises(DeltaError, match="root.counter"):
        changes_writer([(("vars", "counter"), {1, 2})])(app, None)
