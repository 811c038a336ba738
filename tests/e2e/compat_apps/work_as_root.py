"""A single work as the whole app: ``LightningApp(work)`` runs it once, then ends.

Uses the packaging helpers of ``lightning_app.utilities.packaging``, as apps written for the cloud did.

    lightning-ctl run work_as_root.py
"""

from lightning_app import LightningApp, LightningWork
from lightning_app.utilities.packaging.build_config import BuildConfig
from lightning_app.utilities.packaging.cloud_compute import CloudCompute


class Script(LightningWork):
    def __init__(self):
        super().__init__(
            cloud_compute=CloudCompute("cpu-medium", disk_size=10),
            cloud_build_config=BuildConfig(requirements=["numpy"]),
        )

    def run(self):
        compute = self.cloud_compute
        print(f"running on {compute.name} with {compute.disk_size} GB of disk")
        print(f"would install {self.cloud_build_config.requirements}")


app = LightningApp(Script())
