"""Watching works: status stages, ``pretty_state`` and the test helpers from ``lightning_app.utilities``.

The flow records each stage its greeter goes through, runs an ``EmptyWork`` and the greeter one after the
other, then prints the app's state without its internals and ends.

    lightning-ctl run status_and_state.py
"""

import json

from lightning_app import LightningApp, LightningFlow, LightningWork
from lightning_app.testing.helpers import EmptyWork
from lightning_app.utilities.app_helpers import is_overridden, pretty_state
from lightning_app.utilities.enum import WorkStageStatus


class Greeter(LightningWork):
    def __init__(self):
        super().__init__()
        self.greeting = ""

    def run(self, name: str):
        self.greeting = f"Hi {name}"
        print(self.greeting)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.empty = EmptyWork()
        self.greeter = Greeter()
        self.stages = []

    def record(self, stage):
        if not self.stages or self.stages[-1] != stage:
            self.stages = self.stages + [stage]

    def run(self):
        self.record(self.greeter.status.stage)
        self.empty.run()
        self.greeter.run("Lightning")
        self.record(self.greeter.status.stage)
        if self.empty.has_succeeded and self.greeter.status.stage == WorkStageStatus.SUCCEEDED:
            overridden = {name: is_overridden(name, self.greeter) for name in ("run", "on_start")}
            print(f"OVERRIDDEN {json.dumps(overridden)}")
            print(f"PRETTY {json.dumps(pretty_state(self.state), sort_keys=True)}", flush=True)
            self.stop("statuses checked")


app = LightningApp(Root())
