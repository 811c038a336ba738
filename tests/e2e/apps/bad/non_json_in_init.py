"""Bad input: a flow's __init__ assigns a non-JSON value (a set) to a public attribute ``tags``."""

from lightning_ctl.sdk import LightningApp, LightningFlow


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.tags = {"a", "b"}

    def run(self):
        self.stop()


app = LightningApp(Root())
