"""For whole-machine crashes: a call that runs until REBOOT_RELEASE exists, beside an idle work started with the flow.

Every process start (``on_start``) and every execution is appended to REBOOT_LOG (``START <work> <pid>``, ``RUN <work>
<pid>``), outside every process of the app. The flow notes each status message of the caller's latest call (so a
test can tell why a call went back to pending), and prints ``FINAL {...}`` once the call succeeded and the idle work
started REBOOT_IDLE_STARTS times (its ``starts`` counts them, carried from process to process).
"""

import json
import os
import time

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


def note(line: str) -> None:
    with open(os.environ["REBOOT_LOG"], "a") as log:
        log.write(f"{line} {os.getpid()}\n")


class Caller(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, start_with_flow=False)

    def on_start(self):
        note("START caller")

    def run(self):
        note("RUN caller")
        while not os.path.exists(os.environ["REBOOT_RELEASE"]):
            time.sleep(0.05)


class Idle(LightningWork):
    def __init__(self):
        super().__init__()
        self.starts = 0

    def on_start(self):
        note("START idle")
        self.starts += 1

    def run(self):
        pass


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.caller = Caller()
        self.idle = Idle()
        self.messages = []

    def run(self):
        self.caller.run()
        for status in self.caller.statuses:
            if status.message and status.message not in self.messages:
                self.messages = self.messages + [status.message]
        if self.caller.has_succeeded and self.idle.starts >= int(os.environ.get("REBOOT_IDLE_STARTS", "1")):
            print("FINAL " + json.dumps({"messages": self.messages}), flush=True)
            self.stop("done")


app = LightningApp(Root())
