"""Two 2-node gangs running torch.distributed at once: one plain MultiNode whose nodes join with env:// (unchanged
torchrun-style code), one PyTorchSpawnMultiNode whose process group is set up for it. Each all-reduces ``rank + 1``
(1 + 2 = 3). With GANG_TORCH_GPU=1 the nodes ask for a GPU each and use NCCL on it; otherwise gloo on the CPU."""

import os

from gang_common import report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk.components import MultiNode, PyTorchSpawnMultiNode

GPU = os.environ.get("GANG_TORCH_GPU") == "1"


class EnvNode(LightningWork):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.total = 0.0

    def run(self, main_address, main_port, num_nodes, node_rank):
        import torch
        import torch.distributed as dist

        dist.init_process_group("nccl" if GPU else "gloo")  # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
        value = torch.tensor([float(dist.get_rank() + 1)], device="cuda" if GPU else "cpu")
        dist.all_reduce(value)
        self.total = float(value.item())
        dist.destroy_process_group()


class SpawnNode(LightningWork):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.total = 0.0
        self.world_size = 0

    def run(self, world_size, node_rank, global_rank, local_rank):
        import torch
        import torch.distributed as dist

        value = torch.tensor([float(global_rank + 1)], device="cuda" if GPU else "cpu")
        dist.all_reduce(value)
        self.total, self.world_size = float(value.item()), world_size


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        compute = CloudCompute("gpu" if GPU else "cpu")
        self.env_gang = MultiNode(EnvNode, num_nodes=2, cloud_compute=compute)
        self.spawn_gang = PyTorchSpawnMultiNode(SpawnNode, compute, 2)

    def run(self):
        self.env_gang.run()
        self.spawn_gang.run()
        for gang in (self.env_gang, self.spawn_gang):
            if gang.has_failed:
                report("TORCH_FAILED", gang.status.message)
                self.stop()
        if self.env_gang.has_succeeded and self.spawn_gang.has_succeeded:
            report("TORCH", {"env": [n.total for n in self.env_gang.ws],
                             "spawn": [[n.total, n.world_size] for n in self.spawn_gang.ws]})
            self.stop()


app = LightningApp(Root())
