"""1-GPU works queueing for agents with one GPU each: QUEUE_EARLY works made in the flow's __init__ (started with
the flow when QUEUE_START_WITH_FLOW=1) and QUEUE_LATE more made in its run(). Each holds its GPU QUEUE_HOLD_S
seconds; the flow stops each work once it succeeded (which frees its GPU), reports each new pending message of
each work, and ends by itself once every work ran. Settings come through ``--env`` so that work processes, which
load this file too, build the same tree."""

import os

from multi_common import Probe, report

from lightning_ctl.sdk import CloudCompute, Dict, LightningApp, LightningFlow, List

HOLD_S = float(os.environ.get("QUEUE_HOLD_S", "1.0"))


class GpuProbe(Probe):
    """A Probe on one GPU, built from JSON arguments only (so that a work made in run() can be rebuilt)."""

    def __init__(self, start_with_flow: bool = True) -> None:
        super().__init__(hold_s=HOLD_S, cloud_compute=CloudCompute("gpu"), start_with_flow=start_with_flow)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        start_with_flow = os.environ.get("QUEUE_START_WITH_FLOW", "1") == "1"
        self.early = List(*[GpuProbe(start_with_flow) for _ in range(int(os.environ.get("QUEUE_EARLY", "3")))])
        self.late = Dict()
        self.late_count = int(os.environ.get("QUEUE_LATE", "0"))
        self.pending = {}

    def run(self):
        while len(self.late) < self.late_count:
            self.late[f"w{len(self.late)}"] = GpuProbe(start_with_flow=False)
        works = [*self.early, *self.late.values()]
        for work in works:
            work.run()
            message = work.status.message if work.status.stage == "pending" else None
            if message and message not in self.pending.get(work.name, []):
                self.pending[work.name] = [*self.pending.get(work.name, []), message]
                report("PENDING", {"work": work.name, "message": message})
            if work.has_succeeded and not work.has_stopped:
                work.stop()
        if all(work.has_stopped for work in works):
            report("DONE", {"facts": {work.name: work.facts for work in works}, "pending": self.pending})
            self.stop()


app = LightningApp(Root())
