"""A call carries the flow's current view of the work: the flow sets ``w.x = 5`` right before ``w.run()`` and
the work's run sees 5."""

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Reader(LightningWork):
    def __init__(self):
        super().__init__()
        self.x = 0
        self.x_in_run = None

    def run(self):
        print(f"x in run = {self.x}", flush=True)
        self.x_in_run = self.x


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Reader()

    def run(self):
        self.w.x = 5  # the work's process already runs (started with the flow) with x == 0
        self.w.run()
        report("X_IN_RUN", self.w.x_in_run)
        self.stop()


app = LightningApp(Root())
