"""Bad input: the module raises while being imported, on line 9 (inside a helper called at line 12)."""

from lightning_ctl.sdk import LightningApp, LightningFlow


def load_settings():
    settings = {"name": "demo"}
    # the next line raises
    return settings["missing_key"]


SETTINGS = load_settings()


class Root(LightningFlow):
    def run(self):
        self.stop()


app = LightningApp(Root())
