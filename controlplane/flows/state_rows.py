"""StateRows: the app's state as checkpoint rows, and which of them changed since last collected.

One row per component attribute and per call ledger.

A row is keyed ``(component, part)``: ``component`` is the component's place in the state tree as JSON (``[]`` for
the root flow, ``["works", "trainer"]``, ``["structures", "pool", "works", "0"]``), ``part`` is ``vars.<name>`` or
``calls``; the app's stage is the row ``("app", "stage")``. :meth:`StateRows.collect` compares each row's value with
its snapshot (``snapshots.py``) and encodes only the rows that changed, so a large value costs one comparison per
collection while it does not change, however often the flows run. :func:`state_from_rows` rebuilds ``app.state``'s
nested shape from saved rows.

    collect(app) ─► changed rows encoded, kept pending ─► take_pending() ─► the checkpoint writes them
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from lightning_ctl.controlplane.flows.snapshots import same, snapshot
from lightning_ctl.sdk._app import LightningApp
from lightning_ctl.sdk._cloud_compute import CloudCompute
from lightning_ctl.sdk._component import to_json
from lightning_ctl.sdk.errors import StateNotSerializableError

RowKey = tuple[str, str]
"""(component, part) of one row."""
APP_STAGE: RowKey = ("app", "stage")
_CALLS = "calls"
_VARS = "vars."
_MISSING = object()


class StateRows:
    """The rows of one app's state as last collected (their snapshots), and the changed ones not yet taken."""

    def __init__(self) -> None:
        self._snapshots: dict[RowKey, Any] = {}
        self._pending: dict[RowKey, str | None] = {}

    def collect(self, app: LightningApp) -> bool:
        """Encode the rows that changed since the last collection and keep them pending.

        Returns whether a flow's own row (its attributes or ledger) was among them.

        Raises:
            StateNotSerializableError: a value changed in place into something that is not JSON.
        """
        seen: set[RowKey] = set()
        flows_changed = False
        for key, value, is_flow in _rows(app):
            seen.add(key)
            snap = self._snapshots.get(key, _MISSING)
            if snap is not _MISSING and same(value, snap):
                continue
            self._pending[key] = _encode(key, value)
            self._snapshots[key] = snapshot(value)
            flows_changed |= is_flow
        if len(seen) != len(self._snapshots):
            for key in self._snapshots.keys() - seen:  # a component left the tree
                del self._snapshots[key]
                self._pending[key] = None
        return flows_changed

    def take_pending(self) -> dict[RowKey, str | None]:
        """The rows changed since the last call, as JSON text (None: the row is gone)."""
        pending, self._pending = self._pending, {}
        return pending

    def baseline(self, app: LightningApp) -> None:
        """Take the app's current state as already saved (just restored from the rows)."""
        self._snapshots = {key: snapshot(value) for key, value, _ in _rows(app)}
        self._pending = {}


def state_from_rows(rows: dict[RowKey, str]) -> dict[str, Any]:
    """``app.state``'s nested shape (what ``LightningApp.set_state`` takes) from saved rows."""
    state: dict[str, Any] = {}
    for (component, part), text in rows.items():
        value = json.loads(text)
        if (component, part) == APP_STAGE:
            state["app_state"] = {"stage": value}
            continue
        node = state
        for segment in json.loads(component):
            node = node.setdefault(segment, {})
        if part == _CALLS:
            node["calls"] = value
        else:
            node.setdefault("vars", {})[part[len(_VARS):]] = value
    return state


def _rows(app: LightningApp) -> Iterator[tuple[RowKey, Any, bool]]:
    """Every row of the app's state: (key, value, whether it belongs to a flow)."""
    yield APP_STAGE, app.stage.value, False
    yield from _component_rows([], app.root)


def _component_rows(path: list[str], component: Any) -> Iterator[tuple[RowKey, Any, bool]]:
    """The rows of ``component`` (its attributes, then its ledger), then those of its children, as in app.state."""
    is_flow = component._IS_FLOW
    own = component.__dict__
    where = json.dumps(path)
    children = own["_flows"] | own["_works"] | own["_structures"] if is_flow else frozenset()
    for name in component._state_names():
        if name not in children:
            value = own[name]
            yield (where, _VARS + name), value.to_dict() if isinstance(value, CloudCompute) else value, is_flow
    yield (where, _CALLS), own["_calls"], is_flow
    if not is_flow:
        return
    for name in sorted(own["_flows"]):
        yield from _component_rows([*path, "flows", name], own[name])
    for name in sorted(own["_works"]):
        yield from _component_rows([*path, "works", name], own[name])
    for name in sorted(own["_structures"]):
        for key, item in own[name]._items():
            yield from _component_rows([*path, "structures", name, "flows" if item._IS_FLOW else "works", key], item)


def _encode(key: RowKey, value: Any) -> str:
    try:
        return to_json(value)
    except (TypeError, ValueError) as exc:
        component, part = key
        where = ".".join(["root", *json.loads(component)[1::2]]) if component.startswith("[") else component
        raise StateNotSerializableError(
            f"{where}.{part.removeprefix(_VARS)}: the value is no longer JSON after an in-place change ({exc}); only "
            "JSON-serializable values can be state attributes", component_name=where, attribute=part) from None
