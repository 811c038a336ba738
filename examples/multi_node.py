"""Two nodes of a MultiNode meet at node 0 and add up their ranks (a stand-in for torch.distributed's all_reduce).

    lightning-ctl run examples/multi_node.py

Here both nodes share the local agent (``pack_nodes=True``); on real machines drop it and start one
``lightning-agent`` per machine: each node then runs on its own. Exits 0 after printing, per node,
``root.gang.ws.N | node N of 2 meets at 127.0.0.1 (WORLD_SIZE=2)`` and then ``the gang's ranks add up to 1``.
"""

import os
import socket
import time

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk.components import MultiNode


class Node(LightningWork):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.total = -1

    def run(self, main_address, main_port, num_nodes, node_rank):
        print(f"node {node_rank} of {num_nodes} meets at {os.environ['MASTER_ADDR']} "
              f"(WORLD_SIZE={os.environ['WORLD_SIZE']})", flush=True)
        if node_rank == 0:  # node 0 listens, adds every rank up and answers each node with the sum
            with socket.create_server((main_address, main_port)) as server:
                peers = [server.accept()[0] for _ in range(num_nodes - 1)]
                self.total = sum(int(peer.recv(16)) for peer in peers)
                for peer in peers:
                    peer.sendall(str(self.total).encode())
                    peer.close()
            return
        for _ in range(600):  # the others dial node 0 until it listens
            try:
                with socket.create_connection((main_address, main_port)) as sock:
                    sock.sendall(str(node_rank).encode())
                    self.total = int(sock.recv(16))
                    return
            except ConnectionRefusedError:
                time.sleep(0.05)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.gang = MultiNode(Node, num_nodes=2, cloud_compute=CloudCompute("cpu", pack_nodes=True))

    def run(self):
        self.gang.run()
        if self.gang.has_succeeded:
            self.stop(f"the gang's ranks add up to {self.gang.ws[0].total}")


app = LightningApp(Root())
