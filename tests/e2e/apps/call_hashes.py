"""Calls whose arguments are equal in Python but of different types (1, 1.0, True, "1") are distinct calls:
four executions, each receiving its own value with its type."""

import time

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Recorder(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.received = []

    def run(self, value):
        self.received = self.received + [repr(value)]
        print(f"executing run({value!r})", flush=True)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Recorder()
        self._deadline = time.monotonic() + 10

    def run(self):
        for value in (1, 1.0, True, "1", 1, True):  # repeats: same calls, no new executions
            self.w.run(value)
        finished = self.w.num_successes >= 4 and not self.w.is_running
        if finished or time.monotonic() > self._deadline:
            report("RECEIVED", self.w.received)
            report("NUM_SUCCESSES", self.w.num_successes)
            self.stop()


app = LightningApp(Root())
