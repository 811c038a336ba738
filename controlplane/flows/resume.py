"""Resuming an app after its control plane crashed: what the checkpoint says, and putting it back in place.

Running ``lightning-ctl run app.py`` again after a crash resumes that app when its previous run did not end
(``--fresh`` starts over); the control plane listens on the same port again, so agents that kept the works running
reconnect by themselves, and their work processes send again whatever was not acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from lightning_ctl.controlplane.errors import CheckpointCorruptError
from lightning_ctl.controlplane.flows.checkpoint import Checkpoint, SavedRun, move_aside
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

    The caller holds the app's lock: no other run of it is alive, so a run the checkpoint says did not end
    crashed.

    With ``fresh``, a damaged checkpoint is moved aside (kept for inspection) and the app starts over.

    Raises:
        CheckpointCorruptError: the checkpoint is damaged (and not ``fresh``); the message says what to do.
        CheckpointError: it cannot be opened.
    """
    path = app_home(app_path) / "checkpoint.sqlite"
    try:
        checkpoint = Checkpoint(path)
    except CheckpointCorruptError as exc:
        if not fresh:
            raise CheckpointCorruptError(f"{exc}; run with --fresh to move it aside and start over",
                                         path=exc.path) from None
        kept = move_aside(path)
        log.warning("app_checkpoint_moved_aside", reason=str(exc), kept_as=str(kept))
        checkpoint = Checkpoint(path)
    saved = checkpoint.load()
    if saved is None or saved.ended:
        return ResumePlan(checkpoint, None, requested_port)
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
