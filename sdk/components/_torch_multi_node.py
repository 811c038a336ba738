"""The MultiNode variants that start PyTorch's per-device processes themselves (torch is the ``torch`` extra).

- ``PyTorchSpawnMultiNode``: each node starts one process per GPU (one on a CPU node), sets up
  ``torch.distributed`` (NCCL with GPUs, gloo without) and calls ``run(world_size, node_rank, global_rank,
  local_rank)`` in each.
- ``LightningTrainerMultiNode`` / ``FabricMultiNode``: each node runs ``run()`` with the environment of a
  TorchElastic launch, and every ``Trainer`` / ``Fabric`` it creates gets the node's ``devices`` and ``num_nodes``.

The nodes' processes import torch only when they run; the control plane never does.
"""

from __future__ import annotations

import inspect
from typing import Any

from lightning_ctl.sdk._cloud_compute import CloudCompute
from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.components._multi_node import MultiNode


def _user_run(work_cls: type[LightningWork]) -> Any:
    run = work_cls.run
    return getattr(run, "__lightning_user_run__", run)


class _TorchMultiNode(MultiNode):
    """The PyTorch variants take ``cloud_compute`` before ``num_nodes``, as the former framework's did."""

    def __init__(self, work_cls: type[LightningWork], cloud_compute: CloudCompute, num_nodes: int,
                 *work_args: Any, **work_kwargs: Any) -> None:
        super().__init__(work_cls, num_nodes, cloud_compute, *work_args, **work_kwargs)


class PyTorchSpawnMultiNode(_TorchMultiNode):
    """N nodes, each running ``work_cls.run(world_size, node_rank, global_rank, local_rank)`` once per device.

    Each run is inside an initialised ``torch.distributed`` process group.

    Args:
        work_cls: the work; its ``run`` takes ``world_size, node_rank, global_rank, local_rank``.
        cloud_compute: what each node needs.
        num_nodes: how many nodes.
        work_args: positional arguments for ``work_cls``.
        work_kwargs: keyword arguments for ``work_cls``.
    """

    _executor = "pytorch_spawn"

    def _check_work_class(self, work_cls: type[LightningWork]) -> None:
        parameters = list(inspect.signature(_user_run(work_cls)).parameters.values())[1:]
        names = [p.name for p in parameters]
        expected = ["world_size", "node_rank", "global_rank", "local_rank"]
        takes_any = any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in parameters)
        if names[:4] != expected and not takes_any:
            raise TypeError(f"{work_cls.__name__}.run must take ({', '.join(expected)}) to run in a "
                            f"{type(self).__name__}; it takes ({', '.join(names)})")


class LightningTrainerMultiNode(_TorchMultiNode):
    """N nodes, each running ``work_cls.run()`` where every PyTorch Lightning ``Trainer`` trains on all nodes.

    Args:
        work_cls: the work; its ``run`` creates a ``Trainer`` and fits.
        cloud_compute: what each node needs.
        num_nodes: how many nodes.
        work_args: positional arguments for ``work_cls``.
        work_kwargs: keyword arguments for ``work_cls``.
    """

    _executor = "lightning_trainer"

    def __init__(self, work_cls: type[LightningWork], cloud_compute: CloudCompute, num_nodes: int,
                 *work_args: Any, **work_kwargs: Any) -> None:
        super().__init__(work_cls, cloud_compute, num_nodes, *work_args, **work_kwargs)
        # The Trainer logs to lightning_logs/ by default: not worth shipping to remote agents.
        self.lightningignore += ("lightning_logs",)


class FabricMultiNode(_TorchMultiNode):
    """N nodes, each running ``work_cls.run()`` where every Lightning ``Fabric`` spans all nodes.

    Its arguments are LightningTrainerMultiNode's.
    """

    _executor = "fabric"
