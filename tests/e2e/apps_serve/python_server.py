"""A PythonServer (Text in, Text out) on the local agent; the flow reports its url once it serves."""

from __future__ import annotations

import json

from lightning_ctl.sdk import LightningApp, LightningFlow
from lightning_ctl.sdk.components import PythonServer, Text


class Shout(PythonServer):
    def __init__(self) -> None:
        super().__init__(input_type=Text, output_type=Text)

    def setup(self) -> None:
        self._model = str.upper

    def predict(self, request: Text) -> Text:
        return Text(text=self._model(request.text))


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.server = Shout()
        self.reported = False

    def run(self) -> None:
        self.server.run()
        if self.server.url and not self.reported:
            self.reported = True
            print(f"SERVING {json.dumps({'url': self.server.url, 'ready': self.server.ready})}", flush=True)


app = LightningApp(Root())
