"""Test-only instrumentation of a control plane: SIGKILL itself inside, or right after, its n-th checkpoint write.

Active only when CRASH_KILL_AT is set (``save=N,at=inside|after,step=K``), and only in the process that imports
the checkpoint module (the control plane). ``inside`` kills from SQLite's progress handler at the K-th virtual
machine step of the N-th write that changes something (in the middle of its transaction); ``after`` kills once the
N-th such write has committed, before the flow thread hands anything else to the I/O side. A write that does not
reach step K is not killed inside; the next one that does is.
"""

import os
import signal

_SPEC = os.environ.get("CRASH_KILL_AT", "")
_TARGET = "lightning_ctl.controlplane.flows.checkpoint"


def _settings():
    fields = dict(part.split("=", 1) for part in _SPEC.split(",") if "=" in part)
    return int(fields.get("save", "1")), fields.get("at", "after"), int(fields.get("step", "1"))


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def _patch(module):
    target_save, where, target_step = _settings()
    counters = {"saves": 0, "steps": 0, "armed": False}
    checkpoint_class = module.Checkpoint
    original_init = checkpoint_class.__init__
    original_save = checkpoint_class.save

    def on_step():
        if counters["armed"]:
            counters["steps"] += 1
            if counters["steps"] >= target_step:
                _die()
        return 0

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if where == "inside":
            self._db.set_progress_handler(on_step, 1)

    def save(self, *args, **kwargs):
        counters["armed"] = where == "inside" and counters["saves"] + 1 >= target_save
        counters["steps"] = 0
        try:
            wrote = original_save(self, *args, **kwargs)
        finally:
            counters["armed"] = False
        if wrote:
            counters["saves"] += 1
            if where == "after" and counters["saves"] >= target_save:
                _die()
        return wrote

    checkpoint_class.__init__ = init
    checkpoint_class.save = save


if _SPEC:
    from tests.helpers.on_import import patch_on_import  # the repository is on PYTHONPATH with this folder

    patch_on_import(_TARGET, _patch)
