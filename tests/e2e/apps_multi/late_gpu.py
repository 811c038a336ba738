"""A 1-GPU work: the flow reports each new pending message, then where the work ran once it succeeded."""

from multi_common import Probe, report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.gpu = Probe(cloud_compute=CloudCompute(gpus=1))
        self.last_message = ""

    def run(self):
        self.gpu.run()
        if self.gpu.status.stage == "pending" and self.gpu.status.message != self.last_message:
            self.last_message = self.gpu.status.message
            report("PENDING", self.last_message)
        if self.gpu.has_succeeded:
            report("DONE", self.gpu.facts)
            self.stop()


app = LightningApp(Root())
