"""Works that need agents from a provider. Knobs (environment of `lightning-ctl run`):
ON_DEMAND_WORKS (how many works, 1), ON_DEMAND_GPUS (GPUs each, 1), ON_DEMAND_HOLD_S (how long each runs, 0),
ON_DEMAND_STOP (1: the app stops once every work succeeded; 0: it keeps running; "works": it stops each work
that succeeded, freeing its agent, and keeps running), ON_DEMAND_RESTARTS (the works'
RestartPolicy.on_failure max_restarts; 0: never), ON_DEMAND_GANG (N > 0: the works are the N nodes of one MultiNode
instead, each also printing its rank and MASTER_ADDR). Each work prints `STARTED {json}` when it starts, with the
credential variables (names) found in its environment and, in a Slurm job, in its job's processes above it."""

import json
import os
import time

import psutil

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork, List, RestartPolicy
from lightning_ctl.sdk.components import MultiNode

WORKS = int(os.environ.get("ON_DEMAND_WORKS", "1"))
GPUS = int(os.environ.get("ON_DEMAND_GPUS", "1"))
HOLD_S = float(os.environ.get("ON_DEMAND_HOLD_S", "0"))
STOP = os.environ.get("ON_DEMAND_STOP", "1")
RESTARTS = int(os.environ.get("ON_DEMAND_RESTARTS", "0"))
GANG = int(os.environ.get("ON_DEMAND_GANG", "0"))


CREDENTIALS = ("LIGHTNING_CTL_TOKEN", "LIGHTNING_CTL_JOIN_TOKEN", "LIGHTNING_AGENT_JOIN_TOKEN")


def credentials_in_job() -> dict[str, list[str]]:
    """Per process of the Slurm job above this one (up to slurmstepd), the credential variables it started with."""
    found = {}
    for process in psutil.Process().parents():
        if process.name() == "slurmstepd":
            break
        names = sorted(n for n in process.environ() if n in CREDENTIALS)
        if names:
            found[f"{process.pid} {process.name()}"] = names
    return found


class Probe(LightningWork):
    def __init__(self, hold_s: float = 0.0):
        policy = RestartPolicy.on_failure(RESTARTS) if RESTARTS else RestartPolicy.never()
        super().__init__(parallel=True, cloud_compute=CloudCompute(gpus=GPUS, cpus=1), restart_policy=policy)
        self.hold_s = hold_s
        self.done = False

    def run(self):
        facts = {"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "node": os.environ.get("SLURMD_NODENAME"),
                 "job": os.environ.get("SLURM_JOB_ID"), "pid": os.getpid(), "time": time.time(),
                 "credentials": sorted(n for n in os.environ if n in CREDENTIALS)}
        if os.environ.get("SLURM_JOB_ID"):
            facts["credentials_in_job"] = credentials_in_job()
        print("STARTED " + json.dumps(facts), flush=True)
        time.sleep(self.hold_s)
        self.done = True


class Node(Probe):
    """A node of a MultiNode: a Probe that also says its rank and where the gang meets."""

    def __init__(self, hold_s: float = 0.0, **kwargs):
        super().__init__(hold_s)

    def run(self, main_address, main_port, num_nodes, node_rank):
        print("NODE " + json.dumps({"rank": node_rank, "master": os.environ.get("MASTER_ADDR"),
                                    "node": os.environ.get("SLURMD_NODENAME"), "job": os.environ.get("SLURM_JOB_ID")}),
              flush=True)
        super().run()


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.probes = List(*[Probe(HOLD_S) for _ in range(0 if GANG else WORKS)])
        if GANG:
            self.gang = MultiNode(Node, GANG, CloudCompute(gpus=GPUS, cpus=1), HOLD_S)

    def run(self):
        if GANG:
            self.gang.run()
            if self.gang.has_succeeded:
                self.stop("the gang ran")
            return
        for probe in self.probes:
            probe.run()
        if STOP == "works":
            for probe in self.probes:
                if probe.done and not probe.has_stopped:
                    probe.stop()
        elif STOP == "1" and all(probe.done for probe in self.probes):
            self.stop("every work ran")


app = LightningApp(Root())
