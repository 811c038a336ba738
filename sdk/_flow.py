"""LightningFlow: coordination logic, run over and over by the control plane's loop."""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import datetime
from typing import Any, Iterable, Iterator

from lightning_ctl.sdk._component import (
    StateAttributes,
    check_json_value,
    is_in_method,
    is_state_name,
    to_json,
)
from lightning_ctl.sdk._schedule import next_fire_time, normalize_cron
from lightning_ctl.sdk._storage_values import assigned_value, decode_value, track_paths
from lightning_ctl.sdk._structures import Dict, List, as_structure
from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.errors import ExitAppException, LightningFlowException

_INTERNAL_STATE_NAMES = frozenset({"_paths", "_layout"})
_COMPONENT_TYPES = (LightningWork, Dict, List)


def _short_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class LightningFlow(StateAttributes):
    """Coordination logic: reads state, calls works, reacts to their progress.

    ``run()`` is called over and over: whenever a work reports a change, and at a steady pace while the flow keeps
    changing its own state. Subclasses must call ``super().__init__()`` before assigning attributes.
    """

    _INTERNAL_STATE_NAMES = _INTERNAL_STATE_NAMES
    _IS_FLOW = True

    # Set through __dict__ in __init__ (past __setattr__'s state rules); declared here for type checkers only.
    _state: set[str]
    _paths: dict[str, Any]
    _layout: list[Any]
    _flows: set[str]
    _works: set[str]
    _structures: set[str]
    _calls: dict[str, Any]
    _schedule_next: dict[str, float]
    _lightningignore: tuple[str, ...]

    def __init__(self) -> None:
        d = self.__dict__
        d["_state"] = set(_INTERNAL_STATE_NAMES)
        d["_name"] = ""
        d["_paths"] = {}
        d["_layout"] = []
        d["_flows"] = set()
        d["_works"] = set()
        d["_structures"] = set()
        d["_calls"] = {}
        d["_schedule_next"] = {}
        d["_lightningignore"] = ()

    # -- assignment -----------------------------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        prop = getattr(type(self), name, None)
        if isinstance(prop, property):
            if prop.fset is None:
                raise AttributeError(f"{type(self).__name__}.{name} is read-only")
            prop.fset(self, value)
            return
        if not is_state_name(name, _INTERNAL_STATE_NAMES):
            object.__setattr__(self, name, value)
            return
        state = self._state_names()
        existing = self.__dict__.get(name)
        if isinstance(existing, (LightningFlow, *_COMPONENT_TYPES)) and value is not existing:
            raise AttributeError(f"Cannot set attributes as the flow/work can't be changed once defined: {name}")
        structure = as_structure(value)
        if structure is not None:
            self._attach_structure(name, structure)
        elif isinstance(value, (LightningFlow, LightningWork)):
            self._attach_component(name, value)
        else:
            if name not in state:
                self._check_declared(name)
            value = assigned_value(self, name, value, in_init=False, is_work=False)
            check_json_value(self, name, value)
            self.__dict__[name] = value
            state.add(name)
            track_paths(self, name, value)

    def _attach_component(self, name: str, component: LightningFlow | LightningWork) -> None:
        if name not in self._state_names() and not is_in_method(
            self, ("__init__", "run", "load_state_dict"), depth=3
        ):
            raise AttributeError(
                f"Cannot set attributes that were not defined in __init__: {name} (a flow may attach new flows "
                "and works only in its __init__ or run)"
            )
        kind = self._works if isinstance(component, LightningWork) else self._flows
        kind.add(name)
        self.__dict__[name] = component
        self._state_names().add(name)
        if self._name:
            component._set_name(f"{self._name}.{name}")

    def _attach_structure(self, name: str, structure: Dict | List) -> None:
        if name not in self._state_names() and not is_in_method(self, ("__init__",), depth=3):
            raise AttributeError(
                f"Cannot set attributes that were not defined in __init__: {name} (declare an empty List() or "
                "Dict() in __init__ and add items to it later)"
            )
        self._structures.add(name)
        self.__dict__[name] = structure
        self._state_names().add(name)
        if self._name:
            structure._set_name(f"{self._name}.{name}")

    def _named_children(self) -> list[tuple[str, Any]]:
        return [(n, self.__dict__[n]) for n in (*self._flows, *self._works, *self._structures)]

    # -- identity and tree ----------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The flow's full dotted name: "root" for the root."""
        return self._name or "root"

    @property
    def flows(self) -> dict[str, LightningFlow]:
        """Every descendant flow (not this one) by full name, structures included."""
        out: dict[str, LightningFlow] = {}
        for name in sorted(self._flows):
            child = self.__dict__[name]
            out[child.name] = child
            out.update(child.flows)
        for name in sorted(self._structures):
            out.update(self.__dict__[name].flows)
        return out

    def works(self, recurse: bool = True) -> list[LightningWork]:
        """The works of this flow: its own (by attribute name), then its child flows', then its structures'."""
        out = [self.__dict__[name] for name in sorted(self._works)]
        if not recurse:
            return out
        for name in sorted(self._flows):
            out.extend(self.__dict__[name].works(recurse=True))
        for name in sorted(self._structures):
            out.extend(self.__dict__[name].works)
        return out

    def named_works(self, recurse: bool = True) -> list[tuple[str, LightningWork]]:
        """``(full name, work)`` pairs in the order of ``works``."""
        return [(work.name, work) for work in self.works(recurse=recurse)]

    @property
    def ready(self) -> bool:
        """Whether the flow's UI is ready: True when every child flow is."""
        return all(flow.ready for flow in self.flows.values())

    @property
    def lightningignore(self) -> tuple[str, ...]:
        """Ignore patterns for the code shipped to remote agents."""
        return self._lightningignore

    @lightningignore.setter
    def lightningignore(self, value: tuple[str, ...]) -> None:
        self.__dict__["_lightningignore"] = tuple(value)

    # -- user hooks -----------------------------------------------------------------------------------------------

    def run(self, *args: Any, **kwargs: Any) -> None:
        """The flow's logic; override it. The root's ``run()`` is called with no arguments."""
        raise NotImplementedError

    def configure_layout(self) -> Any:
        """The flow's UI layout: by default one tab per child flow."""
        return [{"name": name, "content": flow} for name, flow in self.flows.items()]

    def configure_api(self) -> list[Any] | None:
        """HTTP routes of the app (root flow only)."""
        return None

    def configure_commands(self) -> list[dict[str, Any]] | None:
        """Commands of the app (root flow only)."""
        return None

    # -- ending the app -------------------------------------------------------------------------------------------

    def stop(self, end_msg: str = "") -> None:
        """End the app successfully (exit status 0), printing ``end_msg`` first."""
        if end_msg:
            print(end_msg, flush=True)
        raise ExitAppException(end_msg)

    def fail(self, end_msg: str = "") -> None:
        """End the app as failed (exit status 1), printing ``end_msg`` first."""
        if end_msg:
            print(end_msg, flush=True)
        raise LightningFlowException(end_msg)

    def _exit(self, end_msg: str = "") -> None:
        """Deprecated alias of ``stop``."""
        import warnings

        warnings.warn("_exit is deprecated; use stop", DeprecationWarning, stacklevel=2)
        self.stop(end_msg)

    def stop_works(self, works: Iterable[LightningWork]) -> None:
        """Stop each of ``works``."""
        for work in works:
            work.stop()

    # -- scheduling -----------------------------------------------------------------------------------------------

    def schedule(self, cron_pattern: str, start_time: datetime | None = None, user_key: str | None = None) -> bool:
        """Whether the cron schedule fires on this run.

        The first evaluation registers the schedule and returns True; later ones return True during exactly one
        run per firing. A 6th field is seconds (``"* * * * * */2"``); aliases such as ``"hourly"`` are accepted.

        Args:
            cron_pattern: a cron expression or alias.
            start_time: when the schedule starts counting (now by default).
            user_key: identifies the schedule; by default the pattern and the calling line.
        """
        if user_key is None:
            caller = sys._getframe(1)
            user_key = f"{cron_pattern}.{caller.f_code.co_filename}.{caller.f_lineno}"
        key = f"schedule:{_short_hash(user_key)}"
        scheduling = self._calls.setdefault("scheduling", {})
        entry = scheduling.get(key)
        if entry is not None:
            return bool(entry["running"])
        pattern = normalize_cron(cron_pattern)
        start = start_time or datetime.now()
        scheduling[key] = {
            "running": False,
            "cron_pattern": pattern,
            "start_time": start.isoformat(),
            "name": self.name,
        }
        self._schedule_next[key] = next_fire_time(pattern, start.timestamp())
        return True

    def _fire_due_schedules(self, now: float) -> bool:
        """Mark the schedules due at ``now`` as running; whether any fired."""
        fired = False
        for key, entry in self._calls.get("scheduling", {}).items():
            due = self._schedule_next.get(key)
            if due is None:  # restored from a checkpoint: count from now
                due = self._schedule_next[key] = next_fire_time(entry["cron_pattern"], now)
            if now >= due:
                entry["running"] = True
                self._schedule_next[key] = next_fire_time(entry["cron_pattern"], now)
                fired = True
        return fired

    def _reset_schedules(self) -> None:
        for entry in self._calls.get("scheduling", {}).values():
            entry["running"] = False

    def _next_schedule_time(self) -> float | None:
        return min(self._schedule_next.values(), default=None)

    def experimental_iterate(self, iterable: Iterable[Any], run_once: bool = True, user_key: str = "") -> Iterator[Any]:
        """Iterate ``iterable`` across runs, resuming after the last item whose loop body completed."""
        if not user_key:
            caller = sys._getframe(1)
            user_key = f"{caller.f_code.co_filename}.{caller.f_code.co_firstlineno}"
        key = f"experimental_iterate:{_short_hash(user_key)}"
        entry = self._calls.setdefault(key, {"name": self.name, "call_hash": key, "counter": 0, "has_finished": False})
        if entry["has_finished"]:
            if run_once:
                return
            entry.update(counter=0, has_finished=False)
        for index, item in enumerate(iterable):
            if index < entry["counter"]:
                continue
            yield item
            entry["counter"] += 1
        entry["has_finished"] = True

    # -- state ----------------------------------------------------------------------------------------------------

    def _vars_state(self) -> dict[str, Any]:
        plain = {
            name: self.__dict__[name]
            for name in self._state_names()
            if name not in self._flows and name not in self._works and name not in self._structures
        }
        return json.loads(to_json(plain))

    def _children_state(self, view: str) -> dict[str, Any]:
        return {
            "flows": {name: getattr(self.__dict__[name], view) for name in self._flows},
            "works": {name: getattr(self.__dict__[name], view) for name in self._works},
            "structures": {name: getattr(self.__dict__[name], view) for name in self._structures},
        }

    @property
    def state(self) -> dict[str, Any]:
        """The flow's state: ``{"vars", "calls", "flows", "works", "structures", "changes"}``."""
        return {
            "vars": self._vars_state(),
            "calls": json.loads(json.dumps(self._calls)),
            **self._children_state("state"),
            "changes": {},
        }

    @property
    def state_vars(self) -> dict[str, Any]:
        """The state with only ``vars`` at every level."""
        return {"vars": self._vars_state(), **self._children_state("state_vars")}

    @property
    def state_with_changes(self) -> dict[str, Any]:
        """The same as ``state`` (changes are always empty)."""
        return self.state

    def set_state(self, state: dict[str, Any], recurse: bool = True) -> None:
        """Assign ``state["vars"]``, merge ``state["calls"]`` and, with ``recurse``, set the children's state."""
        for name, value in state.get("vars", {}).items():
            if name == "_layout":
                continue
            setattr(self, name, decode_value(value))
        self._calls.update(state.get("calls", {}))
        if not recurse:
            return
        for kind in ("flows", "works", "structures"):
            for name, child_state in state.get(kind, {}).items():
                child = self.__dict__.get(name)
                if child is None:
                    raise AttributeError(f"{self.name} has no child '{name}' to set the state of")
                child.set_state(child_state)
