"""An app without works that stops on its first run."""

from lightning_ctl.sdk import LightningApp, LightningFlow


class Root(LightningFlow):
    def run(self):
        self.stop("nothing to do")


app = LightningApp(Root())
