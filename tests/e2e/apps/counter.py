"""A counter work's attribute changes reach the flow: the flow prints each value of ``w.count`` it sees."""

import time

from e2e_common import report, say

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Counter(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.count = 0

    def run(self):
        for _ in range(5):
            self.count += 1
            print(f"count is {self.count}", flush=True)
            time.sleep(0.05)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.counter = Counter()
        self.seen = []

    def run(self):
        self.counter.run()
        if not self.seen or self.seen[-1] != self.counter.count:
            self.seen = self.seen + [self.counter.count]
            say(f"flow sees count={self.counter.count}")
        if self.counter.has_succeeded:
            report("SEEN", self.seen)
            self.stop("counter done")


app = LightningApp(Root())
