"""``--env NAME=VALUE`` reaches the flow (os.environ in the control plane) and the work's process."""

import os

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class EnvWork(LightningWork):
    def run(self):
        print(f"work env E2E_GREETING={os.environ.get('E2E_GREETING')}", flush=True)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = EnvWork()

    def run(self):
        self.w.run()
        report("FLOW_ENV", os.environ.get("E2E_GREETING"))
        self.stop()


app = LightningApp(Root())
