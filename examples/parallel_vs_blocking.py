"""Parallel works run side by side; a blocking (non-parallel) work holds the flow at its call until it finishes.

    lightning-ctl run examples/parallel_vs_blocking.py
"""

import time

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Sleeper(LightningWork):
    """Sleeps ``seconds`` and records when it started and ended."""

    def __init__(self, parallel: bool) -> None:
        super().__init__(parallel=parallel)
        self.started = 0.0
        self.ended = 0.0

    def run(self, seconds: float) -> None:
        self.started = time.time()
        time.sleep(seconds)
        self.ended = time.time()


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.a = Sleeper(parallel=True)
        self.b = Sleeper(parallel=True)
        self.blocking = Sleeper(parallel=False)
        self.overlap_shown = False

    def run(self) -> None:
        self.a.run(0.5)  # returns at once
        self.b.run(0.5)  # returns at once: a and b overlap
        if not (self.a.has_succeeded and self.b.has_succeeded):
            return
        # The body runs again from the top on every run of the flow: print once. (Not `blocking.has_started`: a
        # work started with the flow has started, with its start action, before any call.)
        if not self.overlap_shown:
            self.overlap_shown = True
            overlap = min(self.a.ended, self.b.ended) - max(self.a.started, self.b.started)
            print(f"parallel works overlapped for {overlap:.2f}s")
        self.blocking.run(0.3)  # the rest of this body runs only once this call has finished
        print(f"the blocking work took {self.blocking.ended - self.blocking.started:.2f}s; the flow waited for it")
        self.stop()


app = LightningApp(Root())
