"""A counter work whose progress the flow sees as it happens.

    lightning-ctl run examples/counter.py
"""

import time

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Counter(LightningWork):
    """Counts to ``n``, one step every 50 ms; each assignment reaches the flow as it happens."""

    def __init__(self) -> None:
        super().__init__(parallel=True)
        self.count = 0

    def run(self, n: int) -> None:
        for _ in range(n):
            self.count += 1
            time.sleep(0.05)


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.counter = Counter()
        self.last_seen = -1

    def run(self) -> None:
        self.counter.run(10)
        if self.counter.count != self.last_seen:
            self.last_seen = self.counter.count
            print(f"the flow sees count={self.counter.count} ({self.counter.status.stage})")
        if self.counter.has_succeeded:
            self.stop(f"counted to {self.counter.count}")


app = LightningApp(Root())
