"""LightningTrainerScript runs scripts/pl_train.py (unchanged) on 2 nodes; the flow reports what each node kept."""

from gang_common import report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow
from lightning_ctl.sdk.components import LightningTrainerScript


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.train = LightningTrainerScript("scripts/pl_train.py", num_nodes=2, cloud_compute=CloudCompute("cpu"))

    def run(self):
        self.train.run()
        if self.train.has_failed:
            report("SCRIPT_FAILED", self.train.status.message)
            self.stop()
        if self.train.has_succeeded:
            report("SCRIPT_TRAINED", [{"finished": n.has_finished, "checkpoint": bool(n.best_model_path)}
                                      for n in self.train.ws])
            self.stop()


app = LightningApp(Root())
