"""Bad input: a flow's run() assigns a non-JSON value (a set) to its public attribute ``tags``."""

from lightning_ctl.sdk import LightningApp, LightningFlow


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.tags = []

    def run(self):
        self.tags = {"a", "b"}
        self.stop()


app = LightningApp(Root())
