"""How a node of the torch MultiNode variants runs its call, in the node's own process (imported only there).

Each runs the user's ``run`` once per local device: local rank 0 in the work's process itself, so that its attribute
changes reach the flow as any work's do; the other ranks (nodes with several GPUs) in processes forked from it,
which share the work object and report nothing back. A rank that fails fails the call.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable

from lightning_ctl.sdk._gang import NODE_RANK, NUM_NODES, RENDEZVOUS_KWARGS, node_environment, rendezvous_of
from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.components._tracer import Tracer

_RENDEZVOUS = (*RENDEZVOUS_KWARGS, NUM_NODES, NODE_RANK)


def require_torch(what: str) -> Any:
    """The ``torch`` module.

    Raises:
        ImportError: PyTorch is not installed (naming the extra that brings it).
    """
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise ImportError(f"{what} needs PyTorch, which is not installed here: "
                          "pip install 'lightning-ctl[torch]'") from None


def _processes_per_node(torch: Any) -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 1


def _on_each_device(nprocs: int, run_rank: Callable[[int], Any]) -> None:
    """``run_rank(local_rank)`` for every local rank: 0 here, the others in forked processes (joined after)."""
    if nprocs == 1:
        run_rank(0)
        return
    import torch.multiprocessing as multiprocessing

    # Forked, not spawned: the children share the work object (rebuilding it would mean loading the app again).
    # CUDA is not initialised in this process before the fork (device_count does not initialise it).
    others = multiprocessing.start_processes(_forked_rank, args=(run_rank,), nprocs=nprocs - 1, join=False,
                                             start_method="fork")
    try:
        run_rank(0)
    finally:
        while not others.join():
            pass


def _forked_rank(index: int, run_rank: Callable[[int], Any]) -> None:
    run_rank(index + 1)


def _rest(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k not in _RENDEZVOUS}


def run_spawned(work: LightningWork, run: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    """PyTorchSpawnMultiNode: ``run(world_size, node_rank, global_rank, local_rank)`` per device.

    Each runs in a process group (NCCL with GPUs, gloo without) set up at node 0's address.
    """
    torch = require_torch("PyTorchSpawnMultiNode")
    address, port, num_nodes, node_rank = rendezvous_of(kwargs, work.name)
    nprocs = _processes_per_node(torch)
    world_size = num_nodes * nprocs
    os.environ.update(node_environment(address, port, num_nodes, node_rank, nprocs))
    rest = _rest(kwargs)

    def run_rank(local_rank: int) -> None:
        global_rank = node_rank * nprocs + local_rank
        distributed = torch.distributed
        joined = False
        if distributed.is_available() and not distributed.is_initialized():
            distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo", rank=global_rank,
                                           world_size=world_size, init_method=f"tcp://{address}:{port}")
            joined = True
        try:
            run(world_size, node_rank, global_rank, local_rank, *args, **rest)
        finally:
            if joined:
                distributed.destroy_process_group()

    _on_each_device(nprocs, run_rank)


def _classes(packages: tuple[str, ...], name: str) -> list[type]:
    found = []
    for package in packages:
        try:
            found.append(getattr(importlib.import_module(package), name))
        except (ImportError, AttributeError):
            continue
    return found


def _elastic_environment(node_rank: int, local_rank: int, nprocs: int) -> dict[str, str]:
    """What a TorchElastic launch gives each process: Lightning then uses the processes it did not start."""
    return {"RANK": str(node_rank * nprocs + local_rank), "LOCAL_RANK": str(local_rank),
            "TORCHELASTIC_RUN_ID": "1"}


def _node_arguments(nprocs: int, num_nodes: int) -> Callable[..., tuple[Any, tuple, dict]]:
    """A Tracer ``pre_fn`` giving a Trainer or Fabric this node's devices and the gang's nodes."""

    def pre_fn(instance: Any, *args: Any, **kwargs: Any) -> tuple[Any, tuple, dict]:
        kwargs["devices"] = nprocs
        kwargs["num_nodes"] = num_nodes
        kwargs.setdefault("accelerator", "auto")
        strategy = kwargs.get("strategy")
        if isinstance(strategy, str) and strategy.endswith("_spawn"):
            kwargs["strategy"] = strategy[: -len("_spawn")]  # the processes exist already: no spawning again
        return {"devices": nprocs, "num_nodes": num_nodes}, args, kwargs

    return pre_fn


def _run_traced(work: LightningWork, run: Callable[..., Any], args: tuple, kwargs: dict, what: str,
                packages: tuple[str, ...], class_name: str, extra_env: dict[str, str]) -> None:
    torch = require_torch(what)
    classes = _classes(packages, class_name)
    if not classes:
        raise ImportError(f"{what} needs {class_name} from {' or '.join(packages)}, which is not installed here: "
                          "pip install lightning")
    address, port, num_nodes, node_rank = rendezvous_of(kwargs, work.name)
    nprocs = _processes_per_node(torch)
    rest = _rest(kwargs)

    def run_rank(local_rank: int) -> None:
        os.environ.update(node_environment(address, port, num_nodes, node_rank, nprocs))
        os.environ.update(_elastic_environment(node_rank, local_rank, nprocs), **extra_env)
        tracer = Tracer()
        for cls in classes:
            tracer.add_traced(cls, "__init__", pre_fn=_node_arguments(nprocs, num_nodes))
        tracer.call(run, *args, **rest)

    _on_each_device(nprocs, run_rank)


def run_trainer(work: LightningWork, run: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    """LightningTrainerMultiNode: ``run()`` per device, every ``Trainer`` spanning the gang."""
    _run_traced(work, run, args, kwargs, "LightningTrainerMultiNode", ("lightning.pytorch", "pytorch_lightning"),
                "Trainer", {})


def run_fabric(work: LightningWork, run: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    """FabricMultiNode: ``run()`` per device, every ``Fabric`` spanning the gang."""
    # LT_CLI_USED: Fabric then takes the processes as launched for it and sets up the distributed environment.
    _run_traced(work, run, args, kwargs, "FabricMultiNode", ("lightning.fabric", "lightning_fabric"), "Fabric",
                {"LT_CLI_USED": "1"})
