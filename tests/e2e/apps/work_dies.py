"""A work process that dies by itself, chosen by DEATH: "exit3" (os._exit(3)) or "sigkill" (SIGKILL to
itself). With RAISE_EXCEPTION=0 the flow reports the failed status and stops; with 1 the app fails."""

import os
import signal

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

RAISE = os.environ.get("RAISE_EXCEPTION", "1") == "1"
DEATH = os.environ.get("DEATH", "exit3")


class Dying(LightningWork):
    def __init__(self):
        super().__init__(raise_exception=RAISE)

    def run(self):
        print("about to die", flush=True)
        if DEATH == "exit3":
            os._exit(3)
        os.kill(os.getpid(), signal.SIGKILL)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Dying()

    def run(self):
        if self.w.has_failed:
            status = self.w.status
            report("FAILED", {"stage": status.stage, "reason": status.reason, "message": status.message})
            self.stop()
        self.w.run()


app = LightningApp(Root())
