"""Hello World, written for the former framework's ``lightning_app`` package (unchanged on lightning-ctl).

A work greets from its own process; the flow waits for it, then ends the app.

    lightning-ctl run hello_world.py
"""

from lightning_app import LightningApp, LightningFlow, LightningWork


class HelloWorld(LightningWork):
    def run(self, name: str):
        print(f"Hello {name}, from a LightningWork!")


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.hello = HelloWorld()

    def run(self):
        # Not parallel: the lines below run only once the work has finished.
        self.hello.run("World")
        self.stop("Hello World app finished")


app = LightningApp(Root())
