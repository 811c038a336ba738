"""Prints a marker, then keeps printing from the flow and a work, then ends with a stop message: for a console
reader that goes away after the marker."""

from e2e_common import say

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Chatty(LightningWork):
    def __init__(self):
        super().__init__()
        self.done = False

    def run(self):
        for i in range(2000):
            print(f"work line {i}")
        self.done = True


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Chatty()
        self.ticks = 0

    def run(self):
        if self.ticks == 0:
            say("MARKER")
        self.ticks += 1
        say(f"flow line {self.ticks}")
        self.w.run()
        if self.w.done:
            self.stop("the end message, written after the reader left")


app = LightningApp(Root())
