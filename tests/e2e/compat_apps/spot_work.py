"""Spot machines, as the former framework's docs show them: CloudCompute('gpu', wait_timeout=60, spot=True), here
on a CPU-only agent (`gpus=0`). spot is a placement hint with no effect here (one warning); the work prints and
the app ends."""

from lightning.app import CloudCompute, LightningApp, LightningWork


class YourComponent(LightningWork):
    def run(self):
        print("RUN ANY PYTHON CODE HERE")


compute = CloudCompute("gpu", gpus=0, wait_timeout=60, spot=True)
component = YourComponent(cloud_compute=compute)
app = LightningApp(component)
