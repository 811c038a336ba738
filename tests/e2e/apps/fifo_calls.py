"""Calls with new arguments queue on a busy work and run first-in first-out: a, b, c sent in one tick run in
that order."""

import time

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Queue(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.order = []

    def run(self, item):
        print(f"running {item}", flush=True)
        time.sleep(0.1)
        self.order = self.order + [item]


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Queue()

    def run(self):
        self.w.run("a")
        self.w.run("b")
        self.w.run("c")
        if len(self.w.order) >= 3 and self.w.num_successes >= 3:
            report("ORDER", self.w.order)
            self.stop()


app = LightningApp(Root())
