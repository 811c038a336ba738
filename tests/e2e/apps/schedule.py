"""schedule("* * * * * */1") fires when first evaluated (registration) and again every second; the flow stops
after two firings and reports when they happened."""

import time

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.fired = []
        self._t0 = None

    def run(self):
        if self._t0 is None:
            self._t0 = time.monotonic()
        if self.schedule("* * * * * */1"):
            self.fired = self.fired + [round(time.monotonic() - self._t0, 3)]
        if len(self.fired) >= 2:
            report("FIRED", self.fired)
            self.stop()


app = LightningApp(Root())
