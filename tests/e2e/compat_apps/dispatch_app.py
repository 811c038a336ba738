"""An app file that runs itself, as the former framework's docs show it: `python dispatch_app.py --epochs 3`.

MultiProcessRuntime(app).dispatch() at the bottom hands the file to `lightning-ctl run` (with its own arguments),
which runs the works in their own processes, on an agent.
"""

import sys

from lightning.app import LightningApp, LightningFlow, LightningWork
from lightning.app.runners import MultiProcessRuntime

ARGS = sys.argv[1:]


class TrainComponent(LightningWork):
    def run(self, x):
        print(f"train a model on {x} with {ARGS}")


class AnalyzeComponent(LightningWork):
    def run(self, x):
        print(f"analyze model on {x}")


class WorkflowOrchestrator(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.train = TrainComponent()
        self.analyze = AnalyzeComponent()

    def run(self):
        self.train.run("GPU machine 1")
        self.analyze.run("CPU machine 2")
        self.stop("both ran")


app = LightningApp(WorkflowOrchestrator())
MultiProcessRuntime(app).dispatch()
