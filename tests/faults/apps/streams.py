"""FAULT_WORKS parallel streaming works (and FAULT_CALLS blocking calls of a Counted work); the flow checks, on
every tick, that each list it sees is [1..len] and never shrinks, keeps a counter that only increases, and stops
once everything finished.

Lines: ``FLOW_BOOT {"pid", "counter"}`` on the first tick of each control plane process (``counter`` as restored),
``VIOLATION {...}`` when a list seen breaks the rule, ``FINAL {...}`` at the end.
"""

import os

from fault_common import Counted, Streamer, report, setting

from lightning_ctl.sdk import LightningApp, LightningFlow

WORKS = int(setting("FAULT_WORKS", "3"))
STEPS = int(setting("FAULT_STEPS", "200"))
CALLS = int(setting("FAULT_CALLS", "0"))
_SEEN: dict = {"boot": False, "lengths": {}}
"""This control plane process's own memory (not state): what it saw last of each list."""


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        for index in range(WORKS):
            setattr(self, f"w{index}", Streamer())
        if CALLS:
            self.counted = Counted()
        self.counter = 0
        self.violations = []

    def streamers(self):
        return [getattr(self, f"w{index}") for index in range(WORKS)]

    def run(self):
        if not _SEEN["boot"]:
            _SEEN["boot"] = True
            report("FLOW_BOOT", {"pid": os.getpid(), "counter": self.counter})
        self.counter += 1
        for work in self.streamers():
            work.run(STEPS)
            items = list(work.items)
            last = _SEEN["lengths"].get(work.name, 0)
            if items != list(range(1, len(items) + 1)) or len(items) < last:
                violation = {"work": work.name, "seen_len": len(items), "last_len": last,
                             "bad": items[-5:] if items else []}
                self.violations = self.violations + [violation]
                report("VIOLATION", violation)
            _SEEN["lengths"][work.name] = len(items)
        streams_done = all(w.has_succeeded for w in self.streamers())
        counted = getattr(self, "counted", None)
        if counted is not None and counted.num_successes < CALLS:
            counted.run()  # blocking: the body stops here until the call finished
        if streams_done:
            report("FINAL", {
                "items": {w.name: w.items for w in self.streamers()},
                "pids": {w.name: w.pids for w in self.streamers()},
                "counter": self.counter,
                "violations": self.violations,
                "executions": counted.executions if counted else 0,
                "calls_succeeded": counted.num_successes if counted else 0,
            })
            self.stop("all done")


app = LightningApp(Root())
