"""An app that talks: the flow and its work print lines, the work asks for spot capacity (a warning), and the app
runs until stopped (``lightning-ctl stop``), or fails at once with ``FAIL=1``."""

import os

from e2e_common import say

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork


class Talker(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, cloud_compute=CloudCompute(interruptible=True))

    def run(self):
        say("WORK LINE from the work")
        if os.environ.get("FAIL") == "1":
            raise RuntimeError("the work gave up")


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.talker = Talker()
        self.said = False

    def run(self):
        self.talker.run()
        if self.talker.has_succeeded and not self.said:
            self.said = True
            say("FLOW LINE the work is done")


app = LightningApp(Root())
