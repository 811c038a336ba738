"""Two 1-GPU works (CloudCompute("gpu")) called in the same tick, each holding its GPU for 0.5 s so that they
overlap: the flow reports what each saw."""

from multi_common import Probe, report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.one = Probe(hold_s=0.5, cloud_compute=CloudCompute("gpu"))
        self.two = Probe(hold_s=0.5, cloud_compute=CloudCompute("gpu"))

    def run(self):
        self.one.run()
        self.two.run()
        if self.one.has_succeeded and self.two.has_succeeded:
            report("GPUS", {"one": self.one.facts, "two": self.two.facts})
            self.stop()


app = LightningApp(Root())
