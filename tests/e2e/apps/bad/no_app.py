"""Bad input: a flow, but no LightningApp in the file."""

from lightning_ctl.sdk import LightningFlow


class Root(LightningFlow):
    def run(self):
        self.stop()


root = Root()
