"""Works that update an attribute as fast as they can, then SIGKILL themselves: their agent's socket to them is
reset with acknowledgements still in flight (what used to print "Task exception was never retrieved")."""

import os
import signal
import time

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

WORKS = 6


class Dies(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, raise_exception=False)
        self.count = 0

    def run(self):
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            self.count += 1
            time.sleep(0.0005)
        os.kill(os.getpid(), signal.SIGKILL)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        for index in range(WORKS):
            setattr(self, f"w{index}", Dies())

    def run(self):
        works = [getattr(self, f"w{index}") for index in range(WORKS)]
        for work in works:
            work.run()
        if all(work.has_failed for work in works):
            print("ALL DIED", flush=True)
            self.stop("every work died")


app = LightningApp(Root())
