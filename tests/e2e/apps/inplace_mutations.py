"""In-place mutations (list.append, d[k] = v) in a work reach the flow while the call still runs, and always by
the end of the call."""

import time

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Mutating(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.items = []
        self.d = {}

    def run(self):
        self.items.append("during")
        self.d["k"] = "v"
        time.sleep(1.5)
        self.items.append("at-end")  # right before the call ends: no sleep after it
        self.d["end"] = True


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Mutating()
        self.seen_during = None

    def run(self):
        self.w.run()
        if self.seen_during is None and "during" in self.w.items and self.w.d.get("k") == "v":
            self.seen_during = {"at": time.time(), "stage": self.w.status.stage}
        if self.w.has_succeeded:
            report("RESULT", {"seen_during": self.seen_during, "succeeded_at": self.w.status.timestamp,
                              "items": self.w.items, "d": self.w.d})
            self.stop()


app = LightningApp(Root())
