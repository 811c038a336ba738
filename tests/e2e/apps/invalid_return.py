"""A work's run() returning a value fails the call with reason invalid_return_value (raise_exception=False, so
the flow reports the status and stops)."""

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Returning(LightningWork):
    def __init__(self):
        super().__init__(raise_exception=False)

    def run(self):
        return 42


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Returning()

    def run(self):
        if self.w.has_failed or self.w.has_succeeded:
            status = self.w.status
            report("STATUS", {"stage": status.stage, "reason": status.reason, "message": status.message})
            self.stop()
        self.w.run()


app = LightningApp(Root())
