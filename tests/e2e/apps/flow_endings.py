"""How a flow ends the app, chosen by ENDING: "stop" (flow.stop(msg), exit 0), "fail" (flow.fail(msg),
exit 1) or "raise" (an exception in the flow's run, exit 1 with a traceback naming this file and line)."""

import os

from lightning_ctl.sdk import LightningApp, LightningFlow

ENDING = os.environ.get("ENDING", "stop")


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.runs = 0

    def run(self):
        self.runs += 1
        if self.runs < 3:
            return
        if ENDING == "stop":
            self.stop("stopping: all good")
        elif ENDING == "fail":
            self.fail("failing: something is wrong")
        else:
            raise RuntimeError("the flow blew up")  # marker: flow raise line


app = LightningApp(Root())
