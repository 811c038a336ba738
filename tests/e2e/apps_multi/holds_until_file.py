"""A work that runs until the file named by HOLD_FILE exists, then the app ends (the test decides when)."""

import os
import time

from multi_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Holder(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.released = False

    def run(self):
        print("HOLDING", flush=True)
        while not os.path.exists(os.environ["HOLD_FILE"]):
            time.sleep(0.05)
        self.released = True


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Holder()

    def run(self):
        self.w.run()
        if self.w.has_succeeded:
            report("RELEASED", self.w.released)
            self.stop()


app = LightningApp(Root())
