"""A non-parallel call interrupts the flow body: the line after ``blk.run()`` runs only once the call finished."""

import time

from e2e_common import report, say

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Blocking(LightningWork):
    def __init__(self):
        super().__init__(parallel=False)
        self.finished_at = 0.0

    def run(self):
        time.sleep(0.5)
        self.finished_at = time.time()


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.blk = Blocking()
        self.ticks_before = 0

    def run(self):
        self.ticks_before += 1
        self.blk.run()
        now = time.time()
        say("after blk.run()")
        report("AFTER", {"stage": self.blk.status.stage, "finished_at": self.blk.finished_at, "now": now,
                         "ticks_before": self.ticks_before})
        self.stop()


app = LightningApp(Root())
