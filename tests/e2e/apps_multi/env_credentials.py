"""A work that reports its whole environment (to prove no credential reached it), then the app ends."""

import os

from multi_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class EnvProbe(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.env = {}

    def run(self):
        self.env = dict(os.environ)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = EnvProbe()

    def run(self):
        self.w.run()
        if self.w.has_succeeded:
            report("ENV", self.w.env)
            self.stop()


app = LightningApp(Root())
