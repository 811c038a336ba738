"""A work that calls the built-in breakpoint() (no lightning.app.pdb import): it pauses for `lightning-ctl debug`
like set_trace() does, then the flow ends the app with the work's result."""

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Component(LightningWork):
    def __init__(self):
        super().__init__()
        self.result = 0

    def run(self, x):
        doubled = x * 2
        breakpoint()
        self.result = doubled


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.component = Component()

    def run(self):
        self.component.run(21)
        self.stop(f"RESULT {self.component.result}")


app = LightningApp(Root())
