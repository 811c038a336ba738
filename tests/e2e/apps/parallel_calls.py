"""Parallel calls return at once: the line after two parallel calls runs in the same tick, and the two works'
runs overlap in time (each records its start and end)."""

import time

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Sleeper(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.started_at = 0.0
        self.ended_at = 0.0

    def run(self):
        self.started_at = time.time()
        time.sleep(0.8)
        self.ended_at = time.time()


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.one = Sleeper()
        self.two = Sleeper()
        self.after_calls = []

    def run(self):
        self.one.run()
        self.two.run()
        if not self.after_calls:
            # First tick: both calls were just sent, and execution got here anyway.
            self.after_calls = [self.one.status.stage, self.two.status.stage]
            report("AFTER_CALLS", self.after_calls)
        if self.one.has_succeeded and self.two.has_succeeded:
            report("TIMES", {"one": [self.one.started_at, self.one.ended_at],
                             "two": [self.two.started_at, self.two.ended_at]})
            self.stop()


app = LightningApp(Root())
