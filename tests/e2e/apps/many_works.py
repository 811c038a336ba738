"""MANY_WORKS parallel works (default 200), each run once; the app stops once every one of them has run."""

import os

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

WORKS = int(os.environ.get("MANY_WORKS", "200"))


class Once(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.ran = False

    def run(self):
        self.ran = True


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        for index in range(WORKS):
            setattr(self, f"w{index}", Once())

    def run(self):
        works = [getattr(self, f"w{index}") for index in range(WORKS)]
        for work in works:
            work.run()
        ran = sum(work.ran for work in works)
        if ran == WORKS:
            print(f"ALL {WORKS} WORKS RAN", flush=True)
            self.stop("every work ran")


app = LightningApp(Root())
