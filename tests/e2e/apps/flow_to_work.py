"""Flow → work: the flow sets a public attribute of a running parallel work (``w.knob = 1``) while the work
loops waiting for it; the work sees it and reports back through another attribute. The flow calls the work only
once: the change must reach it without further calls (the reference's "just sent" quirk is not reproduced)."""

import time

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Waiting(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.knob = 0
        self.waiting = False
        self.reported = -1

    def run(self):
        self.waiting = True
        deadline = time.monotonic() + 5
        while self.knob != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        print(f"work saw knob={self.knob}", flush=True)
        self.reported = self.knob


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Waiting()
        self.knob_set = False
        self.called = False

    def run(self):
        if not self.called:
            self.w.run()
            self.called = True
        if self.w.waiting and not self.knob_set:
            self.w.knob = 1
            self.knob_set = True
        if self.w.has_succeeded:
            report("REPORTED", self.w.reported)
            self.stop()


app = LightningApp(Root())
