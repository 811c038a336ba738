"""The former framework's examples/app/argparse, with the work reporting what it parsed in its own process:
`lightning run app app.py --app_args --use_gpu` there, `lightning-ctl run app.py -- --use_gpu` here."""

import argparse
import sys

from lightning.app import CloudCompute, LightningApp, LightningFlow, LightningWork


class Work(LightningWork):
    def __init__(self, cloud_compute):
        super().__init__(cloud_compute=cloud_compute)
        self.seen = ""

    def run(self):
        self.seen = f"{self.cloud_compute.name} {' '.join(ARGV[1:])}"


class Flow(LightningFlow):
    def __init__(self, cloud_compute):
        super().__init__()
        self.work = Work(cloud_compute)

    def run(self):
        self.work.run()
        if self.work.has_succeeded:
            print(f"FLOW {self.work.cloud_compute.name} WORK {self.work.seen}", flush=True)
            self.stop()


ARGV = list(sys.argv)
if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--use_gpu", action="store_true", default=False, help="Whether to use GPU in the cloud")
    hparams = parser.parse_args()
    app = LightningApp(Flow(CloudCompute("cpu-medium" if hparams.use_gpu else "cpu")))
