"""A work that should never get to run: the flow reports that it waits, and the app ends only on a signal."""

from multi_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Unreachable(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)

    def run(self):
        print("WORK RAN", flush=True)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Unreachable()
        self.announced = False

    def run(self):
        self.w.run()
        if not self.announced:
            self.announced = True
            report("WAITING", self.w.status.stage)
        if self.w.is_running or self.w.has_succeeded:
            report("WORK_STARTED", self.w.status.stage)


app = LightningApp(Root())
