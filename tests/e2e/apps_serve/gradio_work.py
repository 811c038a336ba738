"""A ServeGradio work: a text box whose answer is upper-cased."""

from __future__ import annotations

import json

from lightning_ctl.sdk import LightningApp, LightningFlow
from lightning_ctl.sdk.components import ServeGradio


class Shout(ServeGradio):
    inputs = "text"
    outputs = "text"

    def build_model(self):  # noqa: ANN201
        return str.upper

    def predict(self, text: str) -> str:
        return self.model(text)


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.ui = Shout()
        self.reported = False

    def run(self) -> None:
        self.ui.run()
        if self.ui.url and not self.reported:
            self.reported = True
            print(f"SERVING {json.dumps({'url': self.ui.url})}", flush=True)


app = LightningApp(Root())
