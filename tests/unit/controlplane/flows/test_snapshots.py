"""Tests for controlplane.flows.snapshots: telling a changed state value from an unchanged one without encoding it."""

from __future__ import annotations

import math

import pytest

from lightning_ctl.controlplane.flows.snapshots import same, snapshot


class Tagged:
    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __json__(self) -> dict:
        return {"tag": self.tag}


class TestSame:
    @pytest.mark.parametrize("value", ["x" * 1000, 3, 2.5, True, None, [1, [2, {"a": (3, 4)}]], {"k": ["v"]}, (1, 2)])
    def test_an_untouched_value_is_the_same(self, value):
        """Every JSON kind compares equal to its own snapshot."""
        assert same(value, snapshot(value))

    def test_an_in_place_change_is_seen(self):
        """Appending to a nested list, or setting a key, changes the value: the snapshot kept the old one."""
        value = {"items": [1, 2], "meta": {}}
        snap = snapshot(value)
        value["items"].append(3)
        assert not same(value, snap)
        snap = snapshot(value)
        value["meta"]["k"] = 1
        assert not same(value, snap)

    @pytest.mark.parametrize(("old", "new"), [(1, 1.0), (1, True), (0, False), ([1], (1,)), ("1", 1)])
    def test_a_change_of_type_at_the_top_is_a_change(self, old, new):
        """Values Python calls equal but JSON does not (1, 1.0, True) differ at the top level."""
        assert not same(new, snapshot(old))

    def test_nan_is_the_same_as_itself(self):
        """A NaN attribute does not look changed on every comparison (NaN != NaN in Python)."""
        value = float("nan")
        assert same(value, snapshot(value))
        assert same(float("nan"), snapshot(value)) and math.isnan(value)

    def test_objects_with_a_json_form_compare_by_it(self):
        """An object with ``__json__`` (a Path, a Payload) is kept as its JSON: an equal one is the same."""
        snap = snapshot([Tagged("a")])
        assert same([Tagged("a")], snap)
        assert not same([Tagged("b")], snap)

    def test_a_large_unchanged_string_costs_an_identity_check(self):
        """The snapshot of an immutable value is the value itself: nothing is copied."""
        value = "x" * 10_000_000
        assert snapshot(value) is value
