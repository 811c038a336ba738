"""Shared by the gang apps (not an app itself): a node that meets the others through a plain TCP all-reduce.

Every node sends its rank to node 0 at (main_address, main_port); node 0 adds them up with its own and answers each
with the sum. A node whose process is not of the generation the test lets through (``GANG_HOLD_UNTIL`` names a
file that does not exist yet) holds inside ``run`` instead, so that a test can kill it mid-run.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from typing import Any

from lightning_ctl.sdk import LightningWork

ENV_NAMES = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK", "LOCAL_WORLD_SIZE", "RANK", "LOCAL_RANK",
             "CUDA_VISIBLE_DEVICES")
DEADLINE_S = 60.0


def report(tag: str, value: Any) -> None:
    """Print ``<tag> <json value>`` as one whole line (read by ``tests.e2e.reported``)."""
    sys.stdout.write(f"{tag} {json.dumps(value)}\n")
    sys.stdout.flush()


def all_reduce(main_address: str, main_port: int, num_nodes: int, node_rank: int) -> int:
    """The sum of every node's rank, computed at node 0."""
    deadline = time.monotonic() + DEADLINE_S
    if node_rank == 0:
        with socket.create_server((main_address, main_port)) as server:
            server.settimeout(DEADLINE_S)
            peers = [server.accept()[0] for _ in range(num_nodes - 1)]
            total = sum(int(peer.makefile().readline()) for peer in peers)
            for peer in peers:
                peer.sendall(f"{total}\n".encode())
                peer.close()
            return total
    while True:
        try:
            with socket.create_connection((main_address, main_port), timeout=5) as sock:
                sock.sendall(f"{node_rank}\n".encode())
                return int(sock.makefile().readline())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Node(LightningWork):
    """A gang node: reports where it runs and its environment, then joins the all-reduce."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.total = -1
        self.facts = {}

    def run(self, main_address: str, main_port: int, num_nodes: int, node_rank: int) -> None:
        facts = {"rank": node_rank, "pid": os.getpid(), "cwd": os.getcwd(), "main_address": main_address,
                 "main_port": main_port, "num_nodes": num_nodes, "started": time.time(),
                 "env": {name: os.environ.get(name) for name in ENV_NAMES}}
        report("RUNNING", facts)
        hold_until = os.environ.get("GANG_HOLD_UNTIL")
        while hold_until and not os.path.exists(hold_until):
            time.sleep(0.05)
        self.total = all_reduce(main_address, main_port, num_nodes, node_rank)
        facts["ended"] = time.time()
        self.facts = facts
