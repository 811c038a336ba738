"""Gangs: the works of a ``MultiNode`` that are placed, run, fail and restart as one.

A gang node carries its membership in the private state attribute ``_gang`` (plain JSON, so that it reaches the
node's own process with the rest of the state, even when the node was built inside a flow's ``run()``). The control
plane reads it to place the gang all at once and to fill the rendezvous into each node's call; the node's process
reads it to set the environment that ``torchrun``-style and Lightning-style code expects before the user's ``run``.

The rendezvous travels as keyword arguments of the call: ``main_address``, ``main_port``, ``num_nodes`` and
``node_rank`` (the former framework's names). The flow passes ``num_nodes`` and ``node_rank``; the control plane
adds ``main_address`` and ``main_port`` (node 0's address and port in the gang's current placement) as the call
leaves for the nodes, so that a gang placed again after a failure meets at its new address with the same call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from lightning_ctl.sdk._work import LightningWork

GANG_ATTRIBUTE = "_gang"
"""The private state attribute holding a node's membership."""
MAIN_ADDRESS = "main_address"
MAIN_PORT = "main_port"
NUM_NODES = "num_nodes"
NODE_RANK = "node_rank"
RENDEZVOUS_KWARGS = (MAIN_ADDRESS, MAIN_PORT)
"""The call's keyword arguments the control plane fills in."""

PLAIN = "plain"
"""The node's ``run`` runs as it is, in the work's process, with the environment set."""


@dataclass(frozen=True, slots=True)
class GangMembership:
    """One node's place in its gang."""

    gang: str
    """The gang's name: the full name of the MultiNode flow (e.g. ``root.train``)."""
    nodes: tuple[str, ...]
    """Every node's full work name, by rank."""
    rank: int
    pack: bool = False
    """Whether several nodes may share an agent (``CloudCompute(pack_nodes=True)``); else one node per agent."""
    executor: str = PLAIN
    """How the node's process runs ``run``: "plain", or one of ``sdk.components``' torch executors."""

    @property
    def size(self) -> int:
        """How many nodes the gang has."""
        return len(self.nodes)

    def to_json(self) -> dict[str, Any]:
        """The membership as stored in the node's state."""
        return {"gang": self.gang, "nodes": list(self.nodes), "rank": self.rank, "pack": self.pack,
                "executor": self.executor}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GangMembership:
        """A membership as :meth:`to_json` stored it."""
        return cls(str(data["gang"]), tuple(data["nodes"]), int(data["rank"]), bool(data.get("pack", False)),
                   str(data.get("executor", PLAIN)))


def gang_of(work: LightningWork) -> GangMembership | None:
    """The gang ``work`` is a node of, or None."""
    data = work.__dict__.get(GANG_ATTRIBUTE)
    return GangMembership.from_json(data) if data else None


def join_gang(work: LightningWork, membership: GangMembership) -> None:
    """Make ``work`` a node of ``membership.gang`` (called by MultiNode, again whenever the gang's names change)."""
    work.__dict__[GANG_ATTRIBUTE] = membership.to_json()
    work._state_names().add(GANG_ATTRIBUTE)


def local_world_size() -> int:
    """How many processes a node runs: one per GPU given to it (``CUDA_VISIBLE_DEVICES``), at least one."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return max(1, len([index for index in visible.split(",") if index.strip()]))


def node_environment(main_address: str, main_port: int, num_nodes: int, node_rank: int,
                     processes_per_node: int) -> dict[str, str]:
    """What ``torch.distributed``'s ``env://``, ``torchrun``-style scripts and Lightning's Trainer read.

    ``RANK`` and ``LOCAL_RANK`` are set only when the node runs one process: with several, the code that starts the
    per-GPU processes (the Trainer, ``torch.multiprocessing``) gives each its own.
    """
    env = {
        "MASTER_ADDR": main_address,
        "MASTER_PORT": str(main_port),
        "NODE_RANK": str(node_rank),
        "GROUP_RANK": str(node_rank),
        "WORLD_SIZE": str(num_nodes * processes_per_node),
        "LOCAL_WORLD_SIZE": str(processes_per_node),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
    }
    if processes_per_node == 1:
        env.update(RANK=str(node_rank), LOCAL_RANK="0")
    return env


def rendezvous_of(kwargs: dict[str, Any], work_name: str) -> tuple[str, int, int, int]:
    """``(main_address, main_port, num_nodes, node_rank)`` from a node's call.

    Raises:
        TypeError: one is missing (the call did not come through MultiNode and the control plane).
    """
    missing = [k for k in (MAIN_ADDRESS, MAIN_PORT, NUM_NODES, NODE_RANK) if k not in kwargs]
    if missing:
        raise TypeError(f"{work_name}.run() is a gang node's call and lacks {', '.join(missing)}")
    return (str(kwargs[MAIN_ADDRESS]), int(kwargs[MAIN_PORT]), int(kwargs[NUM_NODES]), int(kwargs[NODE_RANK]))


NodeExecutor = Callable[["LightningWork", Callable[..., Any], tuple, dict], Any]
_EXECUTORS: dict[str, str] = {
    "pytorch_spawn": "lightning_ctl.sdk.components._torch_executors:run_spawned",
    "lightning_trainer": "lightning_ctl.sdk.components._torch_executors:run_trainer",
    "fabric": "lightning_ctl.sdk.components._torch_executors:run_fabric",
}
"""The torch executors, imported only by the nodes that use them (torch is an optional extra)."""


def run_plain(work: LightningWork, run: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Set the node's environment, then run the user's ``run`` as it is."""
    address, port, num_nodes, rank = rendezvous_of(kwargs, work.name)
    os.environ.update(node_environment(address, port, num_nodes, rank, local_world_size()))
    return run(*args, **kwargs)


def node_run(work: LightningWork, run: Callable[..., Any]) -> Callable[..., Any]:
    """``run`` (the user's, bound) as the node's process executes it: through its gang's executor."""
    membership = gang_of(work)
    if membership is None:
        return run
    if membership.executor == PLAIN:
        executor: NodeExecutor = run_plain
    else:
        import importlib

        module_name, _, function = _EXECUTORS[membership.executor].partition(":")
        executor = getattr(importlib.import_module(module_name), function)

    def run_as_node(*args: Any, **kwargs: Any) -> Any:
        return executor(work, run, args, kwargs)

    return run_as_node
