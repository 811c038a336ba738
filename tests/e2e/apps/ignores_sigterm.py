"""A work that ignores SIGTERM (in on_start) is SIGKILLed once the stop grace period (--stop-grace) runs out:
the flow sees it stopped, and its process is gone."""

import os
import signal
import time

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Stubborn(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.pid = 0

    def on_start(self):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def run(self):
        print(f"work pid={os.getpid()}", flush=True)
        self.pid = os.getpid()
        time.sleep(60)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Stubborn()
        self.stop_sent_at = 0.0

    def run(self):
        if not self.stop_sent_at:
            self.w.run()
        if self.w.pid and not self.stop_sent_at:
            self.w.stop()
            self.stop_sent_at = time.time()
        if self.w.has_stopped and self.w.status.reason != "pending":
            status = self.w.status
            report("STOPPED", {"stage": status.stage, "reason": status.reason, "message": status.message,
                               "after_s": time.time() - self.stop_sent_at})
            self.stop()


app = LightningApp(Root())
