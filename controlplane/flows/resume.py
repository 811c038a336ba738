"""Resuming an app after its control plane crashed: what the checkpoint says, and putting it back in place.

Running ``lightning-ctl run app.py`` again after a crash resumes that app when its previous run did not end
(``--fresh`` starts over); the control plane listens on the same port again, so agents that kept the works running
reconnect by themselves, and their work processes send again whatever was not acknowledged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil
import structlog

from lightning_ctl.controlplane.errors import AppAlreadyRunningError
from lightning_ctl.controlplane.flows.checkpoint import Checkpoint, SavedRun
from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime
from lightning_ctl.controlplane.home import app_home
from lightning_ctl.sdk._app import LightningApp

log = structlog.get_logger(component="resume")


@dataclass
class ResumePlan:
    """The app's checkpoint, and the run to resume from it (None: start fresh)."""

    checkpoint: Checkpoint
    saved: SavedRun | None
    port: int
    """The port to listen on: the previous run's when resuming (agents come back there), else the requested one."""


def plan_resume(app_path: str, requested_port: int, fresh: bool) -> ResumePlan:
    """Open the app's checkpoint and decide whether to resume.

    Raises:
        AppAlreadyRunningError: the previous run's control plane is still alive.
    """
    checkpoint = Checkpoint(app_home(app_path) / "checkpoint.sqlite")
    saved = checkpoint.load()
    if saved is None or saved.ended:
        return ResumePlan(checkpoint, None, requested_port)
    if saved.pid != os.getpid() and _is_control_plane(saved.pid):
        checkpoint.close()
        raise AppAlreadyRunningError(
            f"{app_path} is already running (lightning-ctl pid {saved.pid}); stop it with lightning-ctl stop"
        )
    if fresh:
        log.info("app_checkpoint_discarded", reason="--fresh")
        return ResumePlan(checkpoint, None, requested_port)
    return ResumePlan(checkpoint, saved, requested_port or saved.port)


def restore(app: LightningApp, runtime: FlowRuntime, saved: SavedRun) -> None:
    """Put the flows' and works' state and the record of work processes back as the checkpoint has them."""
    if saved.state is not None:
        app.set_state(saved.state)
    works = {work.name: work for work in app.works}
    runtime.restore(saved.works or {}, works.get)
    running = sorted(name for name, work in (saved.works or {}).items() if not work["exited"])
    log.warning("app_resumed", saved_at=saved.saved_at, works_to_reattach=running,
                hint="the previous run did not end; pass --fresh to start over")


def _is_control_plane(pid: int) -> bool:
    try:
        return "lightning-ctl" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
