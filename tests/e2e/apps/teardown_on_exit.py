"""At the app's end every live work gets SIGTERM and runs on_exit: four idle works (their call finished) and one
busy in run(); all of them honour SIGTERM, so the app ends well within the stop grace period."""

import time

from e2e_common import say

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Quick(LightningWork):
    def __init__(self, busy=False):
        super().__init__(parallel=True)
        self.busy = busy
        self.ran = False

    def run(self):
        self.ran = True
        while self.busy:
            time.sleep(0.05)

    def on_exit(self):
        print("on_exit ran", flush=True)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.idle_1 = Quick()
        self.idle_2 = Quick()
        self.idle_3 = Quick()
        self.idle_4 = Quick()
        self.busy = Quick(busy=True)

    def run(self):
        works = self.works()
        for work in works:
            work.run()
        if all(work.ran for work in works) and all(w.has_succeeded for w in works if w is not self.busy):
            say("all works ran; stopping the app")
            self.stop()


app = LightningApp(Root())
