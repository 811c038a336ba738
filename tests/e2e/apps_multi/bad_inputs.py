"""Works for the bad-input matrix (tests/e2e/test_bad_inputs.py).

Each target work ``root.w<i>`` runs on the test's hand-written agent (label role=rogue) and fails only through
what that agent sends about it; ``root.good`` runs on a real agent (role=good) and must never be affected. The app
runs until the test stops it.
"""

import os
import time

from multi_common import report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork

TARGETS = int(os.environ.get("BAD_TARGETS", "1"))


class Target(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, raise_exception=False, start_with_flow=False,
                         cloud_compute=CloudCompute(labels={"role": "rogue"}))
        self.value = 0
        self.text = ""

    def run(self):
        pass  # never runs: its agent is the test


class Good(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, raise_exception=False, start_with_flow=False,
                         cloud_compute=CloudCompute(labels={"role": "good"}))
        self.runs = 0

    def run(self, round_: int):
        time.sleep(0.3)
        self.runs += 1


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        for index in range(TARGETS):
            setattr(self, f"w{index}", Target())
        self.good = Good()
        self.round = 0

    def run(self):
        for index in range(TARGETS):
            getattr(self, f"w{index}").run()
        self.good.run(self.round)
        if self.good.has_succeeded and self.good.runs > self.round:
            report("GOOD", self.good.runs)
            self.round += 1  # the good work runs again and again while the test goes on


app = LightningApp(Root())
