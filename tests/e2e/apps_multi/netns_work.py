"""The work of netns_app.py, kept in its own module: a work process can only load it from the code bundle."""

import os
import time

from lightning_ctl.sdk import LightningWork

FINAL = 7


class Counter(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.count = 0
        self.cwd = ""

    def run(self):
        self.cwd = os.getcwd()
        for _ in range(FINAL):
            self.count += 1
            time.sleep(0.03)
