"""Tests for sdk._pretty: the human-facing state view."""

from __future__ import annotations

import copy

from lightning_ctl.sdk._pretty import pretty_state

_CLOUD_COMPUTE = {
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


def _work_state(**user_vars):
    return {
        "vars": {
            "_host": "127.0.0.1",
            "_port": None,
            "_url": "",
            "_future_url": "",
            "_internal_ip": "",
            "_public_ip": "",
            "_restarting": False,
            "_display_name": "",
            "_paths": {},
            "_cloud_compute": dict(_CLOUD_COMPUTE),
            **user_vars,
        },
        "calls": {
            "latest_call_hash": "fe3fa0f",
            "fe3fa0f": {"statuses": [{"stage": "succeeded", "timestamp": 1}], "ret": None},
        },
        "changes": {},
    }


def _app_state():
    child_flow = {
        "vars": {"_paths": {}, "_layout": [], "ticks": 3},
        "calls": {},
        "flows": {},
        "works": {"trainer": _work_state(epochs=10, _secret="x")},
        "structures": {},
        "changes": {},
    }
    return {
        "vars": {"_paths": {}, "_layout": {"target": "x"}, "counter": 1, "history": [1, 2]},
        "calls": {"scheduling": {"schedule:abc": {"running": False, "cron_pattern": "* * * * *"}}},
        "flows": {"child": child_flow},
        "works": {"silent": _work_state()},
        "structures": {
            "items": {"works": {"0": _work_state(value=5)}, "flows": {}},
        },
        "changes": {},
        "app_state": {"stage": "running"},
    }


def test_keeps_public_vars_and_recurses_into_flows_and_works():
    """Only public vars survive, at every level of flows and works."""
    assert pretty_state(_app_state()) == {
        "vars": {"counter": 1, "history": [1, 2]},
        "flows": {"child": {"vars": {"ticks": 3}, "works": {"trainer": {"vars": {"epochs": 10}}}}},
        "works": {"silent": {}},
    }


def test_work_without_public_vars_becomes_empty_dict():
    """A work whose vars are all private becomes {}."""
    assert pretty_state(_work_state()) == {}


def test_flow_without_children_has_no_flows_or_works_key():
    """Empty flows/works maps produce no keys."""
    state = {"vars": {"x": 1}, "calls": {}, "flows": {}, "works": {}, "structures": {}, "changes": {}}
    assert pretty_state(state) == {"vars": {"x": 1}}


def test_drops_calls_changes_structures_and_app_state():
    """calls, changes, structures and app_state never appear in the output."""
    pretty = pretty_state(_app_state())
    assert not {"calls", "changes", "structures", "app_state"} & pretty.keys()


def test_missing_keys_are_treated_as_empty():
    """A state dict with no vars/flows/works (e.g. from state_vars) is accepted."""
    assert pretty_state({}) == {}
    assert pretty_state({"works": {"w": {"vars": {"a": 1}}}}) == {"works": {"w": {"vars": {"a": 1}}}}


def test_does_not_modify_or_alias_the_input():
    """The input is left unchanged and the output shares no mutable values with it."""
    state = _app_state()
    original = copy.deepcopy(state)
    pretty = pretty_state(state)
    pretty["vars"]["history"].append(3)
    assert state == original
