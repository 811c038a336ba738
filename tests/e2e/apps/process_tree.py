"""An app with three parallel works (``a`` also spawns a grandchild ``sleep 60``) that each print their pid and
keep running, ended in the way ENDING says once the file GO_FILE exists: "stop" (flow.stop), "fail" (flow.fail),
"raise" (an exception in the flow), "work" (work ``c`` raises with raise_exception=True), "signal" (the app
waits to be ended by a signal to lightning-ctl)."""

import os
import subprocess
import time

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

ENDING = os.environ.get("ENDING", "signal")
GO_FILE = os.environ.get("GO_FILE", "")


def go():
    return bool(GO_FILE) and os.path.exists(GO_FILE)


class Busy(LightningWork):
    def __init__(self, spawn_grandchild=False, fail_on_go=False):
        super().__init__(parallel=True)
        self.spawn_grandchild = spawn_grandchild
        self.fail_on_go = fail_on_go
        self.beat = 0

    def run(self):
        if self.spawn_grandchild:
            self._child = subprocess.Popen(["sleep", "60"])
            print(f"grandchild pid={self._child.pid}", flush=True)
        print(f"pid={os.getpid()}", flush=True)
        while True:
            if self.fail_on_go and go():
                raise RuntimeError("work c fails the app")
            self.beat += 1  # keeps the flow running
            time.sleep(0.1)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.a = Busy(spawn_grandchild=True)
        self.b = Busy()
        self.c = Busy(fail_on_go=ENDING == "work")

    def run(self):
        self.a.run()
        self.b.run()
        self.c.run()
        if not go():
            return
        if ENDING == "stop":
            self.stop("stopped by the flow")
        elif ENDING == "fail":
            self.fail("failed by the flow")
        elif ENDING == "raise":
            raise RuntimeError("the flow raised")


app = LightningApp(Root())
