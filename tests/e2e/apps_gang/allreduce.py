"""A 3-node MultiNode whose nodes meet through a TCP all-reduce; the flow reports each node's facts and total.

While the nodes wait to be placed, the flow prints their pending message once (``PENDING <message>``)."""

import os

from gang_common import Node, report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, RestartPolicy
from lightning_ctl.sdk.components import MultiNode

NUM_NODES = int(os.environ.get("GANG_NODES", "3"))


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.mn = MultiNode(Node, num_nodes=NUM_NODES, cloud_compute=CloudCompute("gpu"),
                            restart_policy=RestartPolicy.on_failure(max_restarts=1))
        self.pending_seen = ""

    def run(self):
        self.mn.run()
        message = self.mn.ws[0].status.message or ""
        if self.mn.ws[0].is_pending and message and message != self.pending_seen:
            self.pending_seen = message
            print(f"PENDING {message}", flush=True)
        if self.mn.has_succeeded:
            report("GANG", [{"total": node.total, **node.facts} for node in self.mn.ws])
            self.stop()
        elif self.mn.has_failed:
            report("GANG_FAILED", self.mn.status.message)
            self.stop()


app = LightningApp(Root())
