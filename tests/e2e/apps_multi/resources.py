"""Three works that each fit exactly one of three agents: by CPUs (cpus=3), by memory (3Gi), by label (zone=a)."""

from multi_common import Probe, report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.cpu3 = Probe(cloud_compute=CloudCompute(cpus=3))
        self.mem3 = Probe(cloud_compute=CloudCompute(memory="3Gi"))
        self.zone_a = Probe(cloud_compute=CloudCompute(labels={"zone": "a"}))

    def run(self):
        works = {"cpu3": self.cpu3, "mem3": self.mem3, "zone_a": self.zone_a}
        for work in works.values():
            work.run()
        if all(work.has_succeeded for work in works.values()):
            report("PLACED", {name: work.facts for name, work in works.items()})
            self.stop()


app = LightningApp(Root())
