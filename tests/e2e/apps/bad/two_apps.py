"""Bad input: two LightningApp instances in one file."""

from lightning_ctl.sdk import LightningApp, LightningFlow


class Root(LightningFlow):
    def run(self):
        self.stop()


app = LightningApp(Root())
other_app = LightningApp(Root())
