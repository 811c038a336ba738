"""Auto-timeout of a submitted work, as the former framework's docs show it: CloudCompute(wait_timeout=...).

The work asks for more GPUs than any agent has: it waits, then fails with reason "timeout" after 2 s, which the flow
sees (has_timeout) and `lightning-ctl status` shows. The app then waits to be stopped.
"""

from lightning.app import CloudCompute, LightningApp, LightningFlow, LightningWork


class YourComponent(LightningWork):
    def run(self):
        print("RUN ANY PYTHON CODE HERE")


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.component = YourComponent(parallel=True, cloud_compute=CloudCompute("gpu", gpus=64, wait_timeout=2))
        self.reported = False

    def run(self):
        self.component.run()
        if self.component.has_timeout and not self.reported:
            self.reported = True
            print("TIMED OUT", self.component.num_timeouts, self.component.status.message)


app = LightningApp(Root())
