"""One work, launched only once the file LC_GO exists (so a test can change the agent before the launch)."""

import os

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Once(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)

    def run(self):
        print("the work ran", flush=True)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Once()

    def run(self):
        if os.path.exists(os.environ["LC_GO"]):
            self.w.run()
        if self.w.has_succeeded:
            self.stop("ran")


app = LightningApp(Root())
