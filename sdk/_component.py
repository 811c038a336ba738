"""What flows and works share: which attributes are state, the assignment rules, and naming.

An attribute is *state* when its name does not start with ``_`` or is one of the component's internal state names.
State attributes must be declared in the component's own ``__init__`` and hold JSON values; private attributes are
free-form and never leave the process. Components are named by their place in the tree (``root.a.b``).
"""

from __future__ import annotations

import json
import sys
from types import FrameType
from typing import Any, ClassVar

from lightning_ctl.sdk._storage_values import refresh_storage_values
from lightning_ctl.sdk.errors import StateNotSerializableError


def is_state_name(name: str, internal_names: frozenset[str]) -> bool:
    """Whether an attribute called ``name`` belongs to the state."""
    return not name.startswith("_") or name in internal_names


def _json_default(value: Any) -> Any:
    to_json = getattr(value, "__json__", None)
    if to_json is None:
        raise TypeError(type(value).__name__)
    return to_json()


def to_json(value: Any) -> str:
    """Serialize a state value; raises TypeError naming the offending type."""
    return json.dumps(value, default=_json_default, allow_nan=True)


def check_json_value(component: Any, name: str, value: Any) -> None:
    """Raise StateNotSerializableError naming the component and attribute unless ``value`` is JSON."""
    if value is None or isinstance(value, (str, int, float)):
        return
    try:
        to_json(value)
    except (TypeError, ValueError) as exc:
        owner = component._name or type(component).__name__
        kind = type(value).__name__
        detail = "" if str(exc) == kind else f" ({exc})"  # e.g. a list holding a set: name the inner culprit
        raise StateNotSerializableError(
            f"{owner}.{name}: only JSON-serializable values can be state attributes, got {kind}{detail}. "
            "Use a name starting with '_' to keep it private to this process.",
            component_name=owner,
            attribute=name,
        ) from None


def is_in_method(component: Any, method_names: tuple[str, ...], depth: int = 2) -> bool:
    """Whether one of ``component``'s methods named ``method_names`` is on the call stack."""
    frame: FrameType | None = sys._getframe(depth)
    while frame is not None:
        if frame.f_code.co_name in method_names and frame.f_locals.get("self") is component:
            return True
        frame = frame.f_back
    return False


class Named:
    """A node of the component tree: knows its full dotted name and renames its subtree when attached."""

    _name: str

    def _set_name(self, name: str) -> None:
        self.__dict__["_name"] = name
        for child_attr, child in self._named_children():
            child._set_name(f"{name}.{child_attr}")

    def _named_children(self) -> list[tuple[str, Named]]:
        return []


class StateAttributes(Named):
    """Assignment rules shared by flows and works (spec §2.1), and the base that tells components apart.

    Code that must not import either class (structures, the work's own checks) tells a component from a value,
    and a flow from a work, by this base.
    """

    _INTERNAL_STATE_NAMES: ClassVar[frozenset[str]] = frozenset()
    _IS_FLOW: ClassVar[bool] = False
    """True on LightningFlow: a flow holds components; a work never does."""

    def _set_name(self, name: str) -> None:
        super()._set_name(name)
        refresh_storage_values(self)

    def _state_names(self) -> set[str]:
        try:
            return self.__dict__["_state"]
        except KeyError:
            raise AttributeError(
                f"Did you forget to call super().__init__() in {type(self).__name__}.__init__?"
            ) from None

    def _check_declared(self, name: str) -> None:
        """A new state attribute may only be created inside this component's own ``__init__``."""
        if name not in self._state_names() and not is_in_method(self, ("__init__",), depth=3):
            raise AttributeError(
                f"Cannot set attributes that were not defined in __init__: {name} "
                f"(on {self._name or type(self).__name__}; declare it in __init__, or name it '_{name}' to keep it "
                "private)"
            )

    def _public_vars(self) -> dict[str, Any]:
        """The public (non ``_``) state attributes and their values."""
        return {name: self.__dict__[name] for name in self._state_names() if not name.startswith("_")}
