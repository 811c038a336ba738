"""LightningApp: the root of a component tree, and what the control plane loads from an app file."""

from __future__ import annotations

import json
from typing import Any

from lightning_ctl.sdk._cloud_compute import CloudCompute
from lightning_ctl.sdk._flow import LightningFlow
from lightning_ctl.sdk._status import AppStage, AppStatus
from lightning_ctl.sdk._structures import Dict, List
from lightning_ctl.sdk._work import LightningWork


class _RootWorkFlow(LightningFlow):
    """The root flow made for an app whose root is a work: runs the work once, then ends the app."""

    def __init__(self, work: LightningWork) -> None:
        super().__init__()
        self.work = work

    def run(self) -> None:
        if self.work.has_succeeded:
            self.stop()  # the app's teardown stops the work: one SIGTERM, not two
        self.work.run()


class LightningApp:
    """The app: a root flow (or a work, wrapped in a flow that runs it once) and its stage.

    Args:
        root: the root flow, or a work.
        flow_cloud_compute: kept for compatibility; unused by lightning-ctl.
        log_level: "info" or "debug".
        info: UI metadata; kept for compatibility.
        root_path: URL prefix when served behind a proxy; kept for compatibility.
    """

    def __init__(
        self,
        root: LightningFlow | LightningWork,
        flow_cloud_compute: CloudCompute | None = None,
        log_level: str = "info",
        info: Any = None,
        root_path: str = "",
    ) -> None:
        if isinstance(root, LightningWork):
            root = _RootWorkFlow(root)
        if not isinstance(root, LightningFlow):
            raise TypeError(f"LightningApp(root=...) takes a LightningFlow or LightningWork, got {type(root).__name__}")
        if type(root).run is LightningFlow.run:
            raise TypeError(f"The root flow {type(root).__name__} must override run()")
        if log_level not in ("info", "debug"):
            raise Exception(f"log_level must be 'info' or 'debug', got {log_level!r}")
        self.root = root
        self._ready = False
        self.flow_cloud_compute = flow_cloud_compute or CloudCompute("flow-lite")
        self.log_level = log_level
        self.info = info
        self.root_path = root_path
        self.stage = AppStage.RUNNING
        self.last_state: dict[str, Any] | None = None
        root._set_name("root")

    @property
    def flows(self) -> list[LightningFlow]:
        """The root flow and every descendant flow."""
        return [self.root, *self.root.flows.values()]

    @property
    def works(self) -> list[LightningWork]:
        """Every work of the app, in traversal order."""
        return self.root.works(recurse=True)

    @property
    def named_works(self) -> list[tuple[str, LightningWork]]:
        """``(full name, work)`` for every work."""
        return self.root.named_works(recurse=True)

    @property
    def state(self) -> dict[str, Any]:
        """The root flow's state plus ``{"app_state": {"stage": ...}}``."""
        return {**self.root.state, "app_state": {"stage": self.stage.value}}

    @property
    def state_vars(self) -> dict[str, Any]:
        """The vars-only view of the state plus the app stage."""
        return {**self.root.state_vars, "app_state": {"stage": self.stage.value}}

    @property
    def state_with_changes(self) -> dict[str, Any]:
        """The same as ``state``."""
        return self.state

    def set_state(self, state: dict[str, Any]) -> None:
        """Set the whole tree's state and the app stage."""
        self.last_state = json.loads(json.dumps(state))
        self.root.set_state({k: v for k, v in state.items() if k != "app_state"})
        if "app_state" in state:
            self.stage = AppStage(state["app_state"]["stage"])

    @property
    def status(self) -> AppStatus:
        """Whether the UI is ready and each work's status, by full name."""
        return AppStatus(is_ui_ready=self.ready, work_statuses={w.name: w.status for w in self.works})

    @property
    def ready(self) -> bool:
        """Whether the root flow is ready.

        Once it was, the app stays ready (a flow's ``ready`` that goes back to False, say while a serving work restarts,
        does not take the UI away).
        """
        if not self._ready:
            self._ready = bool(self.root.ready)
        return self._ready

    def connect(self, runtime: Any) -> None:
        """Override hook called just before the loop starts."""

    def get_component_by_name(self, name: str) -> LightningFlow | LightningWork:
        """The component called ``name`` (``root.a.b``), walking attributes and structure keys.

        Raises:
            ValueError: ``name`` does not start with "root".
            AttributeError: a step of ``name`` is not a component.
        """
        parts = name.split(".")
        if parts[0] != "root":
            raise ValueError(f"component names start with 'root', got {name!r}")
        current: Any = self.root
        for depth, part in enumerate(parts[1:], start=1):
            try:
                if isinstance(current, (Dict, List)):
                    current = current.component(part)
                elif isinstance(current, LightningFlow) and part in current._state_names():
                    current = current.__dict__[part]
                else:
                    raise KeyError(part)
            except (KeyError, ValueError, IndexError):
                raise AttributeError(f"{'.'.join(parts[:depth])} has no component {part!r} (looking up {name})") from None
            if not isinstance(current, (LightningFlow, LightningWork, Dict, List)):
                raise AttributeError(f"{'.'.join(parts[: depth + 1])} is not a component (looking up {name})")
        if isinstance(current, (Dict, List)):
            raise AttributeError(f"{name} is a structure, not a component")
        return current
