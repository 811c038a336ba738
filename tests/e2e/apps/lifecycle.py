"""An app for the lifecycle tests, shaped by environment variables.

LC_WORKS works (default 2) print ``pid=<pid>`` and tick until the file LC_GO exists, then the flow stops the app.
LC_IGNORE_SIGTERM=1: the works ignore SIGTERM (print "ignoring SIGTERM"). LC_STATE_KB: the flow keeps that many
KiB of state (a checkpoint spanning many pages). LC_FLOW_HANGS=1: once w0 ticked a few times, the flow never
returns from run() (prints "the flow hangs now"): only a forced stop ends the app. At import: LC_MARKER is created (proof the app was loaded),
LC_IMPORT_SLEEP seconds pass, and if LC_IMPORT_FAIL names an existing file the import raises.
"""

import os
import signal
import time

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

if os.environ.get("LC_MARKER"):
    open(os.environ["LC_MARKER"], "a").close()
time.sleep(float(os.environ.get("LC_IMPORT_SLEEP", "0")))
if os.environ.get("LC_IMPORT_FAIL") and os.path.exists(os.environ["LC_IMPORT_FAIL"]):
    raise RuntimeError("the app refuses to load")

WORKS = int(os.environ.get("LC_WORKS", "2"))
GO = os.environ.get("LC_GO", "")


class Ticker(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.ticks = 0

    def run(self):
        if os.environ.get("LC_IGNORE_SIGTERM") == "1":
            signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", flush=True))
        print(f"pid={os.getpid()}", flush=True)
        while True:
            self.ticks += 1
            time.sleep(0.1)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        for index in range(WORKS):
            setattr(self, f"w{index}", Ticker())
        self.ballast = "x" * (int(os.environ.get("LC_STATE_KB", "0")) * 1024)

    def run(self):
        for index in range(WORKS):
            getattr(self, f"w{index}").run()
        if os.environ.get("LC_FLOW_HANGS") == "1" and self.w0.ticks > 3:
            print("the flow hangs now", flush=True)
            while True:
                time.sleep(1)
        if GO and os.path.exists(GO):
            self.stop("go")


app = LightningApp(Root())
