"""One plain work: the flow reports what it saw (cwd, MULTI_GREETING...) once it succeeded."""

from multi_common import Probe, report

from lightning_ctl.sdk import LightningApp, LightningFlow


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Probe()

    def run(self):
        self.w.run()
        if self.w.has_succeeded:
            report("DONE", self.w.facts)
            self.stop()


app = LightningApp(Root())
