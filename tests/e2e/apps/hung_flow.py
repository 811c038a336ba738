"""A flow that never returns from ``run`` once its work has started: only a forced stop ends this app."""

import os
import time

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Ticker(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.ticks = 0

    def run(self):
        print(f"pid={os.getpid()}", flush=True)
        while True:
            self.ticks += 1
            time.sleep(0.1)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Ticker()

    def run(self):
        self.w.run()
        if self.w.ticks > 3:
            print("the flow hangs now", flush=True)
            while True:
                time.sleep(1)


app = LightningApp(Root())
