"""A work whose run() raises, through a user function (``compute_answer``). With RAISE_EXCEPTION=1 (the default)
the app fails at once with the work's traceback; with RAISE_EXCEPTION=0 the call is failed (user_exception,
traceback in the message) and the flow goes on, then stops itself after seeing has_failed."""

import os
import time

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

RAISE = os.environ.get("RAISE_EXCEPTION", "1") == "1"


def compute_answer(value):
    raise ValueError(f"boom from user code ({value})")


class Faulty(LightningWork):
    def __init__(self):
        super().__init__(raise_exception=RAISE)

    def run(self):
        print(f"work started at {time.time()}", flush=True)
        compute_answer(42)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Faulty()

    def run(self):
        if self.w.has_failed:
            status = self.w.status
            report("FAILED", {"stage": status.stage, "reason": status.reason, "message": status.message})
            self.stop("flow goes on after the failure")
        self.w.run()


app = LightningApp(Root())
