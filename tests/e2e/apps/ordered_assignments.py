"""Every assignment of a work reaches the flow, in order: ``seq`` grows by one item per step (200 fast steps);
the flow records each length it observes."""

import time

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Growing(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.seq = []

    def run(self):
        for i in range(200):
            self.seq = self.seq + [i]
            if i % 20 == 0:
                time.sleep(0.005)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Growing()
        self.lengths = []

    def run(self):
        self.w.run()
        length = len(self.w.seq)
        if not self.lengths or self.lengths[-1] != length:
            self.lengths = self.lengths + [length]
        if self.w.has_succeeded:
            report("LENGTHS", self.lengths)
            report("SEQ_OK", self.w.seq == list(range(200)))
            self.stop()


app = LightningApp(Root())
