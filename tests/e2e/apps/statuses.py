"""A work's status as the flow sees it: not_started → pending → running → succeeded, with increasing
timestamps, and the has_* / is_* properties matching."""

import time

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Slow(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, start_with_flow=False)

    def run(self):
        time.sleep(0.5)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Slow()
        self.stages = []
        self.flags = {}

    def note(self):
        status = self.w.status
        if not self.stages or self.stages[-1][0] != status.stage:
            self.stages = self.stages + [[status.stage, status.timestamp]]
            self.flags = {**self.flags, status.stage: {
                "has_started": self.w.has_started, "is_pending": self.w.is_pending,
                "is_running": self.w.is_running, "has_succeeded": self.w.has_succeeded,
                "has_failed": self.w.has_failed, "has_stopped": self.w.has_stopped}}

    def run(self):
        self.note()
        self.w.run()
        self.note()
        if self.w.has_succeeded:
            report("STAGES", self.stages)
            report("FLAGS", self.flags)
            report("STATUSES", [s.stage for s in self.w.statuses])
            self.stop()


app = LightningApp(Root())
