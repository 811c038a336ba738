"""Four plain parallel works, each printing one FACTS line when it runs; the flow reports where each ran."""

from multi_common import Probe, report

from lightning_ctl.sdk import LightningApp, LightningFlow

NAMES = ("w1", "w2", "w3", "w4")


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        for name in NAMES:
            setattr(self, name, Probe())

    def run(self):
        works = {name: getattr(self, name) for name in NAMES}
        for work in works.values():
            work.run()
        if all(work.has_succeeded for work in works.values()):
            report("PLACED", {name: work.facts for name, work in works.items()})
            self.stop()


app = LightningApp(Root())
