"""Works nested two flows deep and inside Dict/List structures (including items added inside run()) run and are
named by their place in the tree: root.a.b.w, root.d.key, root.l.0, root.l.1, root.d.late."""

from e2e_common import report

from lightning_ctl.sdk import Dict, LightningApp, LightningFlow, LightningWork, List


class Hello(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)

    def run(self):
        print(f"hello from {self.name}", flush=True)


class Inner(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Hello()

    def run(self):
        self.w.run()


class Middle(LightningFlow):
    def __init__(self):
        super().__init__()
        self.b = Inner()

    def run(self):
        self.b.run()


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.a = Middle()
        self.d = Dict(key=Hello())
        self.l = List(Hello())

    def run(self):
        if len(self.l) == 1:
            self.l.append(Hello())  # added while running: root.l.1
            self.d["late"] = Hello()  # root.d.late
        self.a.run()
        for work in self.d.values():
            work.run()
        for work in self.l:
            work.run()
        works = self.works()
        if all(work.has_succeeded for work in works):
            report("NAMES", sorted(work.name for work in works))
            self.stop()


app = LightningApp(Root())
