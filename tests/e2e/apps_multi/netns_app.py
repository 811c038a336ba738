"""A counter work from a helper module: the flow records each value of ``count`` it sees and reports them with
the work's cwd once the work succeeded."""

from multi_common import report
from netns_work import FINAL, Counter

from lightning_ctl.sdk import LightningApp, LightningFlow


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.counter = Counter()
        self.seen = []

    def run(self):
        self.counter.run()
        if not self.seen or self.seen[-1] != self.counter.count:
            self.seen = self.seen + [self.counter.count]
        if self.counter.has_succeeded:
            report("COUNTED", {"seen": self.seen, "final": self.counter.count, "expected": FINAL,
                               "cwd": self.counter.cwd})
            self.stop()


app = LightningApp(Root())
