"""Path, Payload and Drive as component attributes, in the state and in ``run()`` arguments.

On assignment (spec §2.1): a ``lit://`` string becomes a Path; a Path is attached to the component (the first work
becomes its origin, the last its consumer) and recorded in ``_paths``; a Payload may only be assigned to a work
outside ``__init__``; a Drive is copied and stamped with the component's name. In the state's JSON each is tagged
with a ``type`` (``__path__``, ``__payload__``, ``__drive__``), and values carrying that tag become objects again
wherever the state or a call arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lightning_ctl.sdk._drive import DRIVE_TYPE, Drive
from lightning_ctl.sdk._path import LIT_PREFIX, PATH_TYPE, Path
from lightning_ctl.sdk._payload import PAYLOAD_TYPE, Payload, _BasePayload

if TYPE_CHECKING:
    from lightning_ctl.sdk._component import StateAttributes

__all__ = [
    "assigned_value",
    "decode_value",
    "received_value",
    "refresh_storage_values",
    "track_paths",
]


def assigned_value(component: StateAttributes, name: str, value: Any, in_init: bool, is_work: bool) -> Any:
    """What assigning ``value`` to ``component.name`` stores (the value itself for anything but storage objects).

    Raises:
        AttributeError: a Payload assigned in ``__init__``, or to a flow.
    """
    if isinstance(value, str) and value.startswith(LIT_PREFIX):
        value = Path(value)
    if isinstance(value, Path):
        value = Path(value)  # a copy: the same Path may be handed to several components
        if is_work:
            value._attach_work(component)
        return value
    if isinstance(value, _BasePayload):
        if not is_work:
            raise AttributeError(f"{component._name or type(component).__name__}.{name}: a Payload can only be an "
                                 "attribute of a work")
        if in_init:
            raise AttributeError(
                f"{component._name or type(component).__name__}.{name}: a Payload can only be set in the work's run() "
                f"(declare '{name}' in __init__ with None, then assign the Payload in run())"
            )
        value._attach_work(component, name)
        return value
    if isinstance(value, Drive):
        return value._stamped(component._name)
    return value


def track_paths(component: StateAttributes, name: str, value: Any) -> bool:
    """Keep ``_paths`` (the former framework's record of Path attributes) in step; whether it changed."""
    paths = component.__dict__.get("_paths")
    if paths is None:
        return False
    if isinstance(value, Path):
        paths[name] = value.to_dict()
        return True
    if name in paths:
        del paths[name]  # e.g. a Path attribute that became a str
        return True
    return False


def refresh_storage_values(component: StateAttributes) -> None:
    """The component got its name: stamp its Drives with it and record its Paths with the origin's name known."""
    for name in list(component._state_names()):
        value = component.__dict__.get(name)
        if isinstance(value, Drive):
            value.component_name = component._name
        elif isinstance(value, Path):
            track_paths(component, name, value)


def decode_value(value: Any) -> Any:
    """A state value as it arrived in JSON, with a tagged Path, Payload or Drive made an object again."""
    if type(value) is not dict:  # the hot path: most values are not dicts at all
        return value
    tag = value.get("type")
    if tag == PATH_TYPE and "path" in value:
        return Path.from_dict(value)
    if tag == PAYLOAD_TYPE:
        return Payload.from_dict(value)
    if tag == DRIVE_TYPE and "id" in value:
        return Drive.from_dict(value)
    return value


def received_value(work: StateAttributes, value: Any) -> Any:
    """A value of ``work``'s attribute as the flow sent it, made an object and attached to ``work`` (its consumer)."""
    value = decode_value(value)
    if isinstance(value, (Path, _BasePayload)):
        value._attach_work(work)
    return value
