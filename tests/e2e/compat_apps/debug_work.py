"""A breakpoint in a work, as the former framework's docs show it (lightning.app.pdb.set_trace).

The work pauses in set_trace() and prints how to attach (`lightning-ctl debug SOCKET`); once the debugger lets it go
on, it finishes its call and the flow ends the app with the work's result.

    lightning-ctl run debug_work.py
"""

from lightning.app import LightningApp, LightningFlow, LightningWork
from lightning.app.pdb import set_trace


class Component(LightningWork):
    def __init__(self):
        super().__init__()
        self.result = 0

    def run(self, x):
        doubled = x * 2
        set_trace()
        self.result = doubled


class WorkflowOrchestrator(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.component = Component()

    def run(self):
        self.component.run(21)
        self.stop(f"RESULT {self.component.result}")


app = LightningApp(WorkflowOrchestrator())
