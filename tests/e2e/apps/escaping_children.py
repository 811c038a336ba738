"""A work that starts processes outside its process group: a ``setsid`` child and a double-forked daemon (which
also drops the work's environment). Each prints its pid; the flow stops the work once the file LC_GO exists and
then the app, or (LC_END=app) ends the app with the work still running."""

import os
import subprocess
import sys
import time

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

DAEMON = """
import os, sys, time
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
print(f"daemon pid={os.getpid()}", flush=True)
time.sleep(600)
"""


class Spawner(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.beat = 0

    def run(self):
        child = subprocess.Popen(["sleep", "600"], start_new_session=True)
        print(f"setsid pid={child.pid}", flush=True)
        subprocess.run([sys.executable, "-c", DAEMON], env={"PATH": os.environ.get("PATH", "")}, check=True)
        while True:
            self.beat += 1  # keeps the flow running
            time.sleep(0.1)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Spawner()
        self.stopped = False

    def run(self):
        self.w.run()
        if not os.path.exists(os.environ["LC_GO"]):
            return
        if os.environ.get("LC_END") == "app":
            self.stop("the app ends with the work running")
        elif not self.stopped:
            self.stopped = True
            self.w.stop()
            print("work stop requested", flush=True)
        elif self.w.has_stopped:
            self.stop("the work was stopped")


app = LightningApp(Root())
