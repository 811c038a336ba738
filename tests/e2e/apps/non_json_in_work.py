"""A work's run() assigns a non-JSON value (a set) to its public attribute ``tags``: the call fails with a
message naming the work and the attribute (raise_exception=False: the flow reports it and stops)."""

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Tagging(LightningWork):
    def __init__(self):
        super().__init__(raise_exception=False)
        self.tags = []

    def run(self):
        self.tags = {"a", "b"}


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Tagging()

    def run(self):
        if self.w.has_failed or self.w.has_succeeded:
            status = self.w.status
            report("STATUS", {"stage": status.stage, "reason": status.reason, "message": status.message})
            self.stop()
        self.w.run()


app = LightningApp(Root())
