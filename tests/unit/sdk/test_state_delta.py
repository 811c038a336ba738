"""Tests for sdk._state_delta: the changes between two states, and the DeepDiff spelling UIs send to /api/v1/delta."""

from __future__ import annotations

import copy

import pytest

from lightning_ctl.sdk._state_delta import REMOVED, apply, diff, from_deepdiff, parse_path, to_deepdiff
from lightning_ctl.sdk.errors import DeltaError


def test_diff_then_apply_turns_the_old_state_into_the_new():
    """Applying the changes diff() finds reproduces the new state exactly (added, changed, removed keys)."""
    old = {"vars": {"a": 1, "b": [1, 2], "c": {"x": 1}}, "works": {"w": {"vars": {"n": 0}}}}
    new = {"vars": {"a": 2, "b": [1, 2, 3], "d": None}, "works": {"w": {"vars": {"n": 0, "m": "x"}}}}
    changes = list(diff(old, new))
    state = copy.deepcopy(old)
    for path, value in changes:
        apply(state, path, value)
    assert state == new
    assert (("vars", "c"), REMOVED) in changes


def test_lists_are_compared_whole():
    """A changed list is one change of the whole list, so applying never depends on positions that moved."""
    assert list(diff({"l": [1, 2]}, {"l": [2]})) == [(("l",), [2])]


def test_a_change_of_type_is_a_change_even_when_equal():
    """1 and True compare equal in Python but are different JSON values (compared where the walk reaches them)."""
    assert list(diff(1, True)) == [((), True)]
    assert list(diff({"x": 1, "y": 1}, {"x": True, "y": 2})) == [(("x",), True), (("y",), 2)]


@pytest.mark.parametrize("text, path", [
    ("root['vars']['counter']", ("vars", "counter")),
    ("root['vars']['items'][2]", ("vars", "items", 2)),
    ('root["vars"]["it\'s"]', ("vars", "it's")),
])
def test_parse_path_reads_deepdiff_paths(text, path):
    """DeepDiff paths become tuples of keys and indexes."""
    assert parse_path(text) == path


@pytest.mark.parametrize("text", ["vars.x", "root.vars", "root['vars'", "root['a']junk"])
def test_parse_path_refuses_what_is_not_a_path(text):
    """Anything else is a DeltaError naming the text."""
    with pytest.raises(DeltaError, match="is not a path"):
        parse_path(text)


def test_from_deepdiff_reads_every_supported_kind():
    """values_changed/type_changes set, *_added add, *_removed remove (list removals from the end first)."""
    delta = {
        "values_changed": {"root['vars']['a']": {"new_value": 2, "old_value": 1}},
        "type_changes": {"root['vars']['b']": {"new_value": "2", "new_type": "str"}},
        "dictionary_item_added": {"root['vars']['c']": 3},
        "iterable_item_removed": {"root['vars']['l'][0]": 1, "root['vars']['l'][2]": 3},
    }
    state = {"vars": {"a": 1, "b": 2, "l": [1, 2, 3]}}
    for path, value in from_deepdiff(delta):
        apply(state, path, value)
    assert state == {"vars": {"a": 2, "b": "2", "c": 3, "l": [2]}}


def test_from_deepdiff_refuses_unknown_kinds():
    """A kind that cannot be applied is named in the error."""
    with pytest.raises(DeltaError, match="set_item_added"):
        from_deepdiff({"set_item_added": {"root['vars']['s']": 1}})


def test_to_deepdiff_round_trips():
    """What AppState sends is read back as the same changes."""
    changes = [(("vars", "x"), 5), (("vars", "y"), REMOVED)]
    assert sorted(from_deepdiff(to_deepdiff(changes)), key=str) == sorted(changes, key=str)


def test_apply_names_the_missing_step():
    """A path through something that does not exist is a DeltaError naming it."""
    with pytest.raises(DeltaError, match=r"root\['flows'\] does not exist"):
        apply({"vars": {}}, ("flows", "a", "vars", "x"), 1)
