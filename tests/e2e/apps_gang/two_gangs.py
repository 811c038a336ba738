"""Two 3-node gangs of 1-GPU nodes started at once; with four 1-GPU agents only one fits at a time."""

from gang_common import Node, report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow
from lightning_ctl.sdk.components import MultiNode


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.first = MultiNode(Node, num_nodes=3, cloud_compute=CloudCompute("gpu"))
        self.second = MultiNode(Node, num_nodes=3, cloud_compute=CloudCompute("gpu"))
        self.messages = []

    def run(self):
        self.first.run()
        self.second.run()
        for gang in (self.first, self.second):
            message = gang.ws[0].status.message or ""
            if gang.ws[0].is_pending and message.startswith("gang") and message not in self.messages:
                self.messages.append(message)
                print(f"PENDING {message}", flush=True)
        if self.first.has_succeeded and self.second.has_succeeded:
            report("GANGS", {name: [{"total": n.total, **n.facts} for n in gang.ws]
                             for name, gang in (("first", self.first), ("second", self.second))})
            self.stop()


app = LightningApp(Root())
