"""An app to operate from outside: a ticking work (``root.w``), a printing one (``root.sub.w``), a flow that
mirrors the ticks into its own state; it runs until ``lightning-ctl stop`` (or a signal) ends it."""

import sys
import time

from e2e_common import say

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Ticker(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.ticks = 0

    def run(self, period: float):
        while True:
            self.ticks += 1
            print(f"tick {self.ticks}", flush=True)
            time.sleep(period)


class Printer(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.printed = 0

    def run(self):
        for i in range(1, 51):
            print(f"line {i}")
        sys.stdout.flush()
        sys.stdout.buffer.write(b"bytes \xff\xfe not utf-8 \x1b]0;title\x07 \x1b[31mred\x1b[0m\n")
        sys.stdout.buffer.write(b"x" * 100_000 + b"\n")
        sys.stdout.buffer.write("done printing\n".encode())
        sys.stdout.flush()
        print("to stderr", file=sys.stderr, flush=True)
        self.printed = 50


class Sub(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Printer()

    def run(self):
        self.w.run()


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Ticker()
        self.sub = Sub()
        self.seen_ticks = 0

    def run(self):
        self.w.run(0.2)
        self.sub.run()
        if self.seen_ticks != self.w.ticks:
            self.seen_ticks = self.w.ticks
        if self.seen_ticks == 1:
            say("operate app ready")


app = LightningApp(Root())
