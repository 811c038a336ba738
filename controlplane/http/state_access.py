"""Reading and writing the app's state for the HTTP side: functions the flow thread runs inside queries.

Each returns plain values it built (JSON text, dicts, dataclasses), never live objects of the flows. Writes take
changes as ``(path, value)`` pairs into the state tree (``sdk._state_delta``) and may only touch public attributes
(``vars``) of flows and works: the flows see them on their next run, running works get them as they always do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lightning_ctl.controlplane.api.app_service import read_works
from lightning_ctl.controlplane.api.app_view import WorkView
from lightning_ctl.controlplane.errors import LayoutError
from lightning_ctl.controlplane.flows.state_watch import StateWatch
from lightning_ctl.controlplane.http.layout import read_layout
from lightning_ctl.sdk._component import to_json
from lightning_ctl.sdk._flow import LightningFlow
from lightning_ctl.sdk._frontend import Frontend
from lightning_ctl.sdk._state_delta import REMOVED, Path, apply, format_path
from lightning_ctl.sdk._structures import Dict, List
from lightning_ctl.sdk.errors import DeltaError

_KINDS = ("flows", "works", "structures")


@dataclass(frozen=True)
class FlowThreadView:
    """What the view needs from the flow thread, read at one moment."""

    stage: str
    works: list[WorkView]
    urls: dict[str, str]
    state: dict[str, Any]
    layout: list[dict[str, str]]
    layout_error: str = ""


def read_state_vars_json(app: Any, runtime: Any) -> str:
    """The app's ``state_vars`` (what ``GET /api/v1/state`` serves) as JSON text."""
    return to_json(app.state_vars)


def read_status(app: Any, runtime: Any) -> dict[str, Any]:
    """``AppStatus`` as JSON-ready data (``GET /api/v1/status``)."""
    return app.status.to_dict()


def layout_reader(frontends: dict[str, Frontend]) -> Callable[[Any, Any], list[dict[str, str]]]:
    """A read of the layout's tabs."""
    return lambda app, runtime: read_layout(app.root, frontends)


def view_reader(watch: StateWatch, frontends: dict[str, Frontend]) -> Callable[[Any, Any], FlowThreadView]:
    """A read of everything the view shows that the flow thread owns; re-arms ``watch`` first."""

    def read(app: Any, runtime: Any) -> FlowThreadView:
        watch.rearm()
        stage, works = read_works(app, runtime)
        try:
            layout, error = read_layout(app.root, frontends), ""
        except LayoutError as exc:
            layout, error = [], str(exc)
        urls = {work.name: work._url or work._future_url for work in app.works}
        return FlowThreadView(stage, works, urls, app.state_vars, layout, error)  # state_vars builds fresh copies

    return read


def changes_writer(changes: list[tuple[Path, Any]]) -> Callable[[Any, Any], int]:
    """A write of ``changes`` (paths into ``state_vars``) to the flows' attributes; returns how many it applied.

    All or nothing: every change is checked and computed before the first attribute is set.

    Raises (from the write):
        DeltaError: a path names no component or attribute, a private attribute, or something other than vars.
    """

    def write(app: Any, runtime: Any) -> int:
        updated: dict[tuple[int, str], tuple[Any, str, Any]] = {}
        for path, value in changes:
            component, name, inner = _resolve(app.root, path)
            key = (id(component), name)
            if key not in updated:
                if name not in component._state_names():
                    raise DeltaError(f"{format_path(path)}: {component.name} has no attribute {name!r}")
                updated[key] = (component, name, json.loads(to_json(component.__dict__[name])))
            current = updated[key][2]
            if not inner:
                if value is REMOVED:
                    raise DeltaError(f"{format_path(path)}: an attribute cannot be removed")
                updated[key] = (component, name, value)
            else:
                apply(current, inner, value)
        for component, name, value in updated.values():
            try:
                setattr(component, name, value)
            except Exception as exc:  # noqa: BLE001 - the component refused the value: say so to the client
                raise DeltaError(f"{component.name}.{name}: {exc}") from None
        return len(updated)

    return write


def _resolve(root: LightningFlow, path: Path) -> tuple[Any, str, Path]:
    """The component, attribute name and path inside the attribute's value that ``path`` names."""
    component: Any = root
    steps = list(path)
    while steps and steps[0] in _KINDS:
        if len(steps) < 2:
            raise DeltaError(f"{format_path(path)} names no component")
        kind, key = steps.pop(0), steps.pop(0)
        component = _child(component, kind, key, path)
    if isinstance(component, (Dict, List)):
        raise DeltaError(f"{format_path(path)} names a structure, not an attribute")
    return _split_vars(component, path, steps)


def _child(component: Any, kind: str, key: Any, path: Path) -> Any:
    try:
        if isinstance(component, (Dict, List)):
            return component.component(str(key))
        child = component.__dict__[key]
    except (KeyError, ValueError, IndexError, TypeError):
        raise DeltaError(f"{format_path(path)}: {component.name} has no {kind[:-1]} {key!r}") from None
    return child


def _split_vars(component: Any, path: Path, steps: list[Any]) -> tuple[Any, str, Path]:
    if len(steps) < 2 or steps[0] != "vars":
        raise DeltaError(f"{format_path(path)}: only attributes (under 'vars') can be changed")
    name = steps[1]
    if not isinstance(name, str) or name.startswith("_"):
        raise DeltaError(f"{format_path(path)}: {name!r} is a private attribute and cannot be changed")
    return component, name, tuple(steps[2:])
