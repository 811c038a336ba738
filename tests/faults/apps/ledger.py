"""CRASH_CALLS sequential calls of one work, for control-plane crash trials: the flow's record of calls against the
work's record of executions.

The work appends one line per execution to CRASH_EXEC_LOG, a file outside every control plane (``<i> <pid>
<knob>``), so a call run twice or never shows there whatever the control planes remember. Before each call the flow
sets the work's ``knob`` to the call's number (the call carries it); the work notes a mismatch (an update lost or
applied late). At the end the flow prints ``FINAL {...}`` (its record and the work's, as the flow sees them) and
stops the app.
"""

import json
import os
import time

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._hashing import call_hash

CALLS = int(os.environ.get("CRASH_CALLS", "20"))
STEP_S = float(os.environ.get("CRASH_STEP_S", "0.03"))


class Executor(LightningWork):
    def __init__(self):
        super().__init__(parallel=False)
        self.knob = 0
        self.executed = []
        self.stale = []

    def run(self, i):
        with open(os.environ["CRASH_EXEC_LOG"], "a") as log:
            log.write(f"{i} {os.getpid()} {self.knob}\n")
        if self.knob != i:
            self.stale = self.stale + [[i, self.knob]]
        time.sleep(STEP_S)
        self.executed = self.executed + [i]


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.executor = Executor()
        self.done = []

    def run(self):
        for i in range(1, CALLS + 1):
            if i not in self.done:
                self.executor.knob = i
            self.executor.run(i)  # returns once call i succeeded (the body stops here until then)
            if i not in self.done:
                self.done = self.done + [i]
        ledger = self.executor._calls
        successes = {i: ledger.get(call_hash((i,), {}), {}).get("num_successes", 0) for i in range(1, CALLS + 1)}
        print("FINAL " + json.dumps({"done": self.done, "executed": self.executor.executed,
                                     "stale": self.executor.stale, "successes": successes}), flush=True)
        self.stop("all calls done")


app = LightningApp(Root())
