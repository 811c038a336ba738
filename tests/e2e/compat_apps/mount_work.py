"""A work that asks for an S3 bucket mounted into it (the former framework's cloud-only Mount): refused at load,
naming the work and what to use instead."""

import os

from lightning.app import CloudCompute, LightningApp, LightningWork
from lightning.app.storage import Mount


class YourComponent(LightningWork):
    def run(self):
        print(os.listdir("/foo"))


mount = Mount(source="s3://lightning-example-public/", mount_path="/foo")
compute = CloudCompute(mounts=mount)
component = YourComponent(cloud_compute=compute)
app = LightningApp(component)
