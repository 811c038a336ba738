"""Tests for controlplane.flows.state_rows: the app's state as rows, and only the changed ones encoded."""

from __future__ import annotations

import pytest

from lightning_ctl.controlplane.flows import state_rows as state_rows_module
from lightning_ctl.controlplane.flows.state_rows import APP_STAGE, StateRows, state_from_rows
from lightning_ctl.sdk import Dict, LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk.errors import StateNotSerializableError


class Job(LightningWork):
    def __init__(self) -> None:
        super().__init__(start_with_flow=False)
        self.big = "x" * 1000
        self.count = 0

    def run(self) -> None:
        pass


class Child(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.level = 1

    def run(self) -> None:
        pass


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.job = Job()
        self.child = Child()
        self.pool = Dict(a=Job())
        self.items = [1]

    def run(self) -> None:
        pass


@pytest.fixture
def app() -> LightningApp:
    return LightningApp(Root())


def test_the_first_collection_has_every_row_and_they_rebuild_the_state(app):
    """Rows of the root, a child flow, a work and a structure's work give another copy of the app its state."""
    app.root.items.append(7)
    app.root.child.level = 3
    app.root.pool["a"].__dict__["count"] = 4
    rows = StateRows()
    rows.collect(app)
    saved = rows.take_pending()
    assert APP_STAGE in saved and ('["works", "job"]', "vars.big") in saved
    assert ('["structures", "pool", "works", "a"]', "calls") in saved
    again = LightningApp(Root())
    again.set_state(state_from_rows(saved))
    assert again.state == app.state


def test_only_changed_rows_are_encoded_again(app, monkeypatch):
    """A second collection encodes nothing unchanged; an in-place change of a flow's list re-encodes that row only."""
    rows = StateRows()
    rows.collect(app)
    rows.take_pending()
    encoded = []
    original = state_rows_module._encode
    monkeypatch.setattr(state_rows_module, "_encode", lambda key, value: encoded.append(key) or original(key, value))
    assert rows.collect(app) is False and rows.take_pending() == {} and encoded == []
    app.root.items.append(2)
    assert rows.collect(app) is True
    assert rows.take_pending() == {("[]", "vars.items"): "[1, 2]"}


def test_a_work_row_changing_is_not_a_flow_change(app):
    """A work's attribute (or ledger) changing does not by itself make the flows run again."""
    rows = StateRows()
    rows.collect(app)
    rows.take_pending()
    app.root.job.__dict__["count"] = 5  # as an event applies it
    assert rows.collect(app) is False
    assert rows.take_pending() == {('["works", "job"]', "vars.count"): "5"}


def test_a_component_that_left_the_tree_has_its_rows_deleted(app):
    """A structure's item removed: its rows are handed over as gone (None)."""
    rows = StateRows()
    rows.collect(app)
    rows.take_pending()
    del app.root.pool["a"]
    rows.collect(app)
    pending = rows.take_pending()
    assert pending and all(value is None for value in pending.values())
    assert all(component.startswith('["structures", "pool", "works", "a"]') for component, _ in pending)


def test_restored_rows_are_not_written_again(app):
    """After a restore, the baseline makes the next collection empty: a resumed app rewrites nothing."""
    rows = StateRows()
    rows.collect(app)
    saved = rows.take_pending()
    again = LightningApp(Root())
    again.set_state(state_from_rows(saved))
    restored = StateRows()
    restored.baseline(again)
    assert restored.collect(again) is False and restored.take_pending() == {}


def test_a_value_made_not_json_in_place_is_named(app):
    """A set put inside a list attribute names the component and the attribute."""
    rows = StateRows()
    rows.collect(app)
    app.root.items.append({1, 2})
    with pytest.raises(StateNotSerializableError, match=r"root\.items"):
        rows.collect(app)

