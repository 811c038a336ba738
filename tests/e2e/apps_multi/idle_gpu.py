"""Two 1-GPU works with CloudCompute("gpu", idle_timeout=1) for an agent with one GPU. `a` runs first; once it has
been idle 1 s its process stops and frees the GPU, so `b` (pending meanwhile) runs without the flow stopping `a`.
The flow then calls `a` again: a new process of `a` runs once `b` has been idle 1 s in turn. Each run records the
process it ran in."""

import os
import time

from multi_common import report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork


class Job(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, cloud_compute=CloudCompute("gpu", idle_timeout=1))
        self.runs = []

    def run(self, round: int) -> None:
        started = time.time()
        time.sleep(0.3)
        self.runs = [*self.runs, {"round": round, "pid": os.getpid(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                                  "started": started, "ended": time.time()}]

    def on_exit(self):
        print(f"on_exit after {len(self.runs)} run(s)", flush=True)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.a = Job()
        self.b = Job()
        self.a_idle = None

    def run(self):
        self.a.run(1)
        self.b.run(1)
        status = self.a.status
        if self.a_idle is None and status.stage == "stopped" and status.reason == "idle_timeout":
            self.a_idle = {"message": status.message, "b_stage": self.b.status.stage}
            report("A_IDLE", self.a_idle)
        if self.a_idle is not None:
            self.a.run(2)
        if len(self.a.runs) == 2 and self.a.has_succeeded and self.b.runs:
            report("DONE", {"a": self.a.runs, "b": self.b.runs, "a_idle": self.a_idle})
            self.stop()


app = LightningApp(Root())
