"""Nested flows and structures: works named by their place in the tree, some created while the app runs.

    lightning-ctl run examples/nested_flows.py
"""

from lightning_ctl.sdk import Dict, LightningApp, LightningFlow, LightningWork, List


class Echo(LightningWork):
    def run(self, message: str) -> None:
        print(f"{self.name} says {message}")


class Stage(LightningFlow):
    """A child flow with its own work."""

    def __init__(self) -> None:
        super().__init__()
        self.echo = Echo()

    def run(self) -> None:
        self.echo.run("hello from a nested flow")


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.stage = Stage()
        self.by_name = Dict(alpha=Echo())
        self.pool = List()

    def run(self) -> None:
        self.stage.run()
        self.by_name["alpha"].run("hello from a Dict")
        if not self.pool:
            self.pool.append(Echo())  # created inside run(): it gets its process on its first call
        self.pool[0].run("hello from a List item added at run time")
        print("works:", [work.name for work in self.works()])
        self.stop()


app = LightningApp(Root())
