"""A work asking for 2 GPUs and a plain work: each records its cwd (which names its agent's work dir) and
CUDA_VISIBLE_DEVICES; the flow reports both once both succeeded."""

from multi_common import Probe, report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.big = Probe(cloud_compute=CloudCompute(gpus=2))
        self.plain = Probe()

    def run(self):
        self.big.run()
        self.plain.run()
        if self.big.has_succeeded and self.plain.has_succeeded:
            report("PLACED", {"big": self.big.facts, "plain": self.plain.facts})
            self.stop()


app = LightningApp(Root())
