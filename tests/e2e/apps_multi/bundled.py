"""Three parallel works started at once on a remote agent: each imports a module that exists only in the app's
folder and looks for a data file (shipped) and a .lightningignore'd file (not shipped) in its cwd."""

import os

from multi_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Bundled(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.facts = {}

    def run(self):
        import only_here

        data = open("data.txt").read().strip() if os.path.exists("data.txt") else None
        self.facts = {"cwd": os.getcwd(), "marker": only_here.MARKER, "helper_file": only_here.__file__,
                      "data": data, "secret_present": os.path.exists("secret.txt")}


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.a = Bundled()
        self.b = Bundled()
        self.c = Bundled()

    def run(self):
        works = {"a": self.a, "b": self.b, "c": self.c}
        for work in works.values():
            work.run()
        if all(work.has_succeeded for work in works.values()):
            report("BUNDLED", {name: work.facts for name, work in works.items()})
            self.stop()


app = LightningApp(Root())
