"""Two parallel 1-GPU works for an agent with one GPU. The flow reports the second's pending message while the
first runs (it holds its GPU ~1 s), stops the first once it succeeded (its process exits, freeing the GPU), and
reports when the second has run."""

from multi_common import Probe, report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.first = Probe(hold_s=1.0, cloud_compute=CloudCompute("gpu"))
        self.second = Probe(cloud_compute=CloudCompute("gpu"))
        self.pending_seen = False
        self.first_stop_sent = False

    def run(self):
        self.first.run()
        self.second.run()
        if not self.pending_seen and self.first.is_running and self.second.status.stage == "pending":
            self.pending_seen = True
            report("PENDING_WHILE_FIRST_RUNS", {"stage": self.second.status.stage,
                                                "message": self.second.status.message})
        if self.first.has_succeeded and not self.first_stop_sent:
            self.first_stop_sent = True
            report("FIRST_SUCCEEDED", {"second_stage": self.second.status.stage})
            self.first.stop()
        if self.second.has_succeeded:
            report("DONE", {"first": self.first.facts, "second": self.second.facts,
                            "pending_seen": self.pending_seen})
            self.stop()


app = LightningApp(Root())
