"""work.stop(): SIGTERM reaches the work's whole process group (a grandchild reports it got SIGTERM), the work's
on_exit runs, and the flow sees the status stopped with reason sigterm_signal_handler."""

import subprocess
import sys
import time

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

GRANDCHILD = """
import signal, sys, time
def on_term(signum, frame):
    sys.stderr.write("grandchild got SIGTERM\\n"); sys.stderr.flush(); sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
time.sleep(60)
"""


class Stoppable(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.ready = False

    def run(self):
        self._child = subprocess.Popen([sys.executable, "-c", GRANDCHILD], stdout=subprocess.PIPE, text=True)
        assert self._child.stdout.readline().strip() == "ready"
        print(f"grandchild pid={self._child.pid}", flush=True)
        self.ready = True
        time.sleep(60)

    def on_exit(self):
        print("on_exit ran", flush=True)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Stoppable()
        self.stop_sent = False

    def run(self):
        if not self.stop_sent:
            self.w.run()
        if self.w.ready and not self.stop_sent:
            self.w.stop()
            self.stop_sent = True
        if self.w.has_stopped and self.w.status.reason != "pending":
            status = self.w.status
            report("STOPPED", {"stage": status.stage, "reason": status.reason, "message": status.message})
            self.stop()


app = LightningApp(Root())
