"""Failures: a work with raise_exception=False fails alone; one with raise_exception=True fails the app.

    lightning-ctl run examples/failing_work.py          # exits 1, showing the work's traceback
"""

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Flaky(LightningWork):
    def run(self, value: int) -> None:
        check(value)


def check(value: int) -> None:
    if value < 0:
        raise ValueError(f"negative value: {value}")


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.tolerated = Flaky(raise_exception=False)
        self.fatal = Flaky(raise_exception=True)
        self.failure_shown = False

    def run(self) -> None:
        if not self.tolerated.has_failed:
            self.tolerated.run(-1)  # blocks this body until the call has failed
        if not self.failure_shown:  # once: the body runs again from the top until the app ends
            self.failure_shown = True
            print(f"tolerated failure ({self.tolerated.status.reason}); the app goes on")
        self.fatal.run(-2)  # fails the app at once: exit status 1 and the traceback of check()


app = LightningApp(Root())
