"""Parallel works that each run once and then sit idle in their processes: the flow reports when all succeeded
and stops, so the app's end sends SIGTERM to every work, the last one within milliseconds of its success."""

from multi_common import Probe, report

from lightning_ctl.sdk import LightningApp, LightningFlow

COUNT = 16


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        for i in range(COUNT):
            setattr(self, f"w{i}", Probe())

    def run(self):
        works = [getattr(self, f"w{i}") for i in range(COUNT)]
        for work in works:
            work.run()
        if all(work.has_succeeded for work in works):
            report("ALL_SUCCEEDED", len(works))
            self.stop()


app = LightningApp(Root())
