"""Bad input: a syntax error on line 8."""

from lightning_ctl.sdk import LightningApp, LightningFlow


class Root(LightningFlow):
    def run(self):
        if True print("missing colon")


app = LightningApp(Root())
